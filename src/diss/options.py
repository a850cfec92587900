"""How a setting of a config dataclass is also a command-line flag (``opt``), and the help of flags several commands
share. Imports nothing heavy: the config modules that use it are read while ``diss --help`` builds its parser."""

from __future__ import annotations

from dataclasses import MISSING, field

from diss import defaults
from diss.domains import DEFAULT_DOMAIN, DOMAINS

MODEL_HELP = f"a shipped model ({'|'.join(DOMAINS)}) or a folder from diss export (default: {DEFAULT_DOMAIN})"
COMPILE_HELP = "torch.compile the U-Net: for many images on a GPU (2.3x at batch 512 on an H100), ~30 s to start"
BACKEND_HELP = (
    "where the U-Net runs: auto picks the faster one on this machine (default), torch is PyTorch (the reference), "
    "openvino is Intel's OpenVINO runtime (pip install openvino)"
)
VERBOSE_HELP = "say which backend runs the U-Net, and why"
STEPS_HELP = (
    f"sampling steps, 1 to {defaults.MAX_STEPS:,} (default: the model's own, set by diss export --steps; "
    f"else {defaults.STEPS})"
)


def opt(default=MISSING, help: str | None = None, kind: str | None = None, **argparse_kwargs):
    """A config field that is also a command-line flag: its default, its kind ("positive": a whole number ≥ 1,
    "positive_float": a finite number > 0, "unit": in [0, 1], "finite": a finite number, "int", "steps": sampling
    steps, 1 to 10,000, or None: text; bools are switches), help and any other argparse keyword (``choices``,
    ``metavar``, ``nargs``, ``flag`` for another flag name, ``cli=False`` for no flag) are said here once."""
    metadata = {"help": help, "kind": kind, **argparse_kwargs}
    return field(metadata=metadata) if default is MISSING else field(default=default, metadata=metadata)
