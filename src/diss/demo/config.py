"""The settings of ``diss demo`` (``DemoConfig``), decided here once for the demo and its command line.

This module imports nothing heavy (no numpy, torch or OpenCV), so that ``diss --help`` builds the parser at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from diss import defaults
from diss.options import BACKEND_HELP, MODEL_HELP, STEPS_HELP, VERBOSE_HELP, opt

DEMO_OUT = "outputs/demo"


@dataclass
class DemoConfig:
    """What the demo draws and where; the fields made with ``opt`` are ``diss demo``'s flags."""

    out: str = opt(DEMO_OUT, "folder for the PNG grids (default %(default)s)", metavar="DIR")
    model: str | None = opt(None, MODEL_HELP, metavar="NAME|DIR")  # None: the default domain's shipped model
    steps: int | None = opt(None, STEPS_HELP, "steps")  # None: the model's (DiSSPipeline.default_steps)
    sampler: str = defaults.SAMPLER  # DPM-Solver++ scored worse under realism (BENCHMARKS.md)
    seeds: int = 4
    seed: int = opt(0, None, "int")
    backend: str = opt(defaults.BACKEND, BACKEND_HELP, choices=defaults.BACKENDS)
    verbose: bool = opt(False, VERBOSE_HELP)
