"""What ``diss evaluate`` measures (``EvalConfig``), decided here once for the evaluation and its command line.

This module imports nothing heavy (no numpy, torch or metrics), so that ``diss --help`` builds the parser at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from diss import defaults
from diss.errors import DissError
from diss.options import BACKEND_HELP, COMPILE_HELP, MODEL_HELP, STEPS_HELP, VERBOSE_HELP, opt


def check_photo_folder(path: str) -> None:
    """Refuse a photo folder that is not there, before the evaluation's slow imports: a typo answers at once."""
    if not Path(path).is_dir():
        raise DissError(f"photo folder {path} does not exist")


STUDIES = ("base", "realism", "scales", "realism_mode", "steps", "sdedit", "drawings")


@dataclass
class EvalConfig:
    """What ``diss evaluate`` measures; saved into metrics.json; the fields made with ``opt`` are its flags."""

    data: str = opt(help="held-out photos (2×N are read: N + floor)", metavar="IMAGES_DIR")
    out: str = opt(metavar="REPORT_DIR")
    # a shipped model's name or a folder (diss.folder.resolve_model); None: the default
    model: str | None = opt(None, MODEL_HELP, metavar="NAME|DIR")
    num: int = opt(64, "photos evaluated (default 64)", "positive")
    size: int | None = opt(None, "also evaluate a cascade folder at its upsampler's side (e.g. 256): beside base + "
                           "Lanczos and the upsampler alone on photos shrunk by its factor", "positive",
                           metavar="PX")  # fmt: skip
    sampler: str = opt(defaults.SAMPLER, choices=defaults.SAMPLERS)
    steps: int | None = opt(None, STEPS_HELP, "steps")  # None: the model's (DiSSPipeline.default_steps)
    fast: bool = opt(False, "evaluate the model folder's distilled student (diss.student) at its steps, or --steps 1, "
                     "2 or 4")  # fmt: skip
    seed: int = opt(0, None, "int")
    batch_size: int = opt(16, None, "positive")
    sketch_scale: float = defaults.SKETCH_GUIDANCE_SCALE
    stroke_scale: float = defaults.STROKE_GUIDANCE_SCALE
    # "base" is the guided model alone; the realism study adds the low-pass
    realism: float | None = opt(None, "realism of the base and steps settings (default off)", "unit")
    studies: tuple[str, ...] = opt(STUDIES, nargs="+", choices=STUDIES)
    realism_values: tuple[float, ...] = defaults.REALISM_SWEEP
    scale_values: tuple[float, ...] = defaults.SCALE_SWEEP
    step_values: tuple[int, ...] = opt((10, 15, 20, 30, 50), "step counts of the steps study (default 10 15 20 30 50; "
                                       "the reference is DDPM 250)", "positive", nargs="+", metavar="N")  # fmt: skip
    # "name" (tried at step_values) or "name:20,30" (its own)
    step_samplers: tuple[str, ...] = opt(("ddim", "dpm++"), "samplers of the steps study, each at --step-values or at "
                                         "its own counts, e.g. ddim dpm++sde:20,30 ddpm:25,50 (default ddim dpm++; "
                                         f"names: {', '.join(defaults.SAMPLERS)})", nargs="+",
                                         metavar="NAME[:N,N]")  # fmt: skip
    step_reference: tuple[str, int] = ("ddpm", 250)  # the original procedure's sampler: the quality to keep
    step_tolerance: float = 0.05  # "equal quality": FID at most 5% above the reference's
    sdedit_t0: tuple[float, ...] = (0.3, 0.5, 0.7)
    # the drawings study (diss.evaluate.drawings): the cartoon drawings besides the examples, and the dial's values
    drawing_num: int = 63
    drawing_realism: tuple[float, ...] = defaults.REALISM_SWEEP
    diversity_inputs: int = 8
    diversity_samples: int = 4
    compile: bool = opt(False, COMPILE_HELP)  # pays on a GPU
    backend: str = opt(defaults.BACKEND, BACKEND_HELP, choices=defaults.BACKENDS)
    verbose: bool = opt(False, VERBOSE_HELP)
    settings: dict = field(default_factory=dict, repr=False)
