"""The settings of a training run (``TrainConfig``), decided here once for ``diss train`` and its command line.

This module imports no torch or diffusers, so that ``diss --help`` and the argument parser start at once; the checks
that need the model code import it when they run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diss import defaults
from diss.errors import DissError
from diss.options import opt

STAGES = ("1", "2", "both")
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: what a run trains: the DiSS model (sketch + strokes → 64 px), the cascade's upsampler (diss.upsampler), or a
#: student distilled from a model (diss.student: guidance folded in, 1–4 steps)
TASKS = ("base", "upsampler", "student")


@dataclass
class TrainConfig:
    """Every setting of a training run; saved as ``RUN/train_config.json``; ``diss train``'s flags are made from it."""

    data: str = opt(help="cache folder made by diss prepare", metavar="CACHE")
    out: str = opt(help="run folder (checkpoints, previews, logs, model)", metavar="RUN")
    task: str = opt("base", "base: the DiSS model (default); upsampler: the cascade's 64 → 256 stage (or 64 → 128 "
                    "with --factor 2), trained on random crops of a --size 256 (128) cache; student: a 1–4 step "
                    "network with the guidance folded in, distilled from --teacher", choices=TASKS)  # fmt: skip
    crop: int = opt(defaults.UPSAMPLER_CROP, "upsampler: side of the random training crops (default "
                    f"{defaults.UPSAMPLER_CROP})", "positive")  # fmt: skip
    factor: int = opt(defaults.UPSAMPLER_FACTOR, "upsampler: its output side over its input's (default "
                      f"{defaults.UPSAMPLER_FACTOR}: 64 → 256 px; 2: 64 → 128 px, for 128 px photos)", "positive",
                      choices=defaults.UPSAMPLER_FACTORS)  # fmt: skip
    base: str | None = opt(None, "upsampler: the model it upsamples, exported with it as one cascade folder (a "
                           "shipped model's name or a folder; default: flowers)", metavar="NAME|DIR")  # fmt: skip
    teacher: str | None = opt(None, "student: the model it is distilled from, and whose folder it is exported with (a "
                              "shipped model's name or a folder; default: flowers)", metavar="NAME|DIR")  # fmt: skip
    preset: str = opt("small", "model size: tiny, small (~6.3M, CPU) or base (~15.9M, GPU); "
                             "the upsampler's: tiny, small (2.4M), medium (7.8M) or base (6.0M)")  # fmt: skip
    size: int | None = opt(None, "image side; must match the cache (default: the cache's)", "positive")
    stage: str = opt("both", "1: both conditions always; 2: condition dropout; both: stage 1 then 2 (default)",
                     choices=STAGES)  # fmt: skip
    max_steps: int = opt(20_000, "optimizer steps in all", "positive")
    stage2_fraction: float = opt(0.3, "with --stage both: the share of the steps trained as stage 2 (default 0.3)",
                                 "unit", metavar="F")  # fmt: skip
    p_uncond: float = opt(0.3, "stage 2: chance of Φ for each condition (default 0.3)", "unit", metavar="P")
    batch_size: int = opt(32, "per process and micro-step", "positive")
    grad_accum: int = opt(1, None, "positive")
    lr: float = opt(2e-4, None, "finite")
    lr_schedule: str = opt("constant", "constant, or cosine: decay to 10%% over max-steps", choices=LR_SCHEDULES)
    warmup_steps: int = opt(500, None, "int")
    weight_decay: float = opt(0.0, None, "finite")
    grad_clip: float = opt(1.0, None, "finite")
    ema_decay: float = opt(0.999, None, "finite")
    beta_schedule: str = opt("linear", "noise schedule", choices=("linear", "cosine"), flag="--schedule")
    learned_variance: bool = opt(False, "6-channel output, L_simple + λ·L_vlb")
    vlb_weight: float = opt(0.001, None, "finite")
    precision: str = opt("auto", None, choices=PRECISIONS)
    channels_last: bool = opt(True, "no channels-last memory layout")
    compile: bool = opt(False, "torch.compile the U-Net (pays off on GPUs)")
    augment: bool = opt(True, "no training-time augmentation")
    loose: float = opt(0.0, "chance that an item's strokes are replaced by a loose rendering of its photo (a flat "
                       "cartoon, or its strokes coarse, blurred, moved, recoloured): the realism dial gets something "
                       "to trade (default 0)", "unit", metavar="P")  # fmt: skip
    seed: int = opt(0, None, "int")
    checkpoint_every: int = opt(1000, None, "positive", metavar="N")
    keep_checkpoints: int = opt(3, None, "positive", metavar="K")
    preview_every: int = opt(1000, None, "positive", metavar="M")
    preview_steps: int = opt(25, "DDIM steps of each preview sample", "positive", cli=False)
    log_every: int = opt(50, None, "positive", metavar="N")
    workers: int = opt(0, "data loader processes (default 0)", "int")
    init: str | None = opt(None, "start from the EMA weights of another run (e.g. stage 1), or fine-tune a model "
                           "folder or shipped model", metavar="RUN|DIR|NAME")  # fmt: skip
    time_limit: float | None = opt(None, "fit the run into MIN minutes: the speed is measured early and --max-steps "
                                   "shortened to fit", "finite", metavar="MIN")  # fmt: skip

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise DissError(f"--stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise DissError(f"--lr-schedule must be constant or cosine, not {self.lr_schedule!r}")
        from diss.diffusion import BETA_SCHEDULES  # torch: only when a run is checked
        from diss.model import preset

        if self.beta_schedule not in BETA_SCHEDULES:
            raise DissError(f"--schedule must be one of {', '.join(BETA_SCHEDULES)}, not {self.beta_schedule!r}")
        if self.precision not in PRECISIONS:
            raise DissError(f"--precision must be auto, fp32, bf16 or fp16, not {self.precision!r}")
        for name in ("max_steps", "batch_size", "grad_accum", "checkpoint_every", "preview_every", "log_every"):
            if getattr(self, name) < 1:
                raise DissError(f"--{name.replace('_', '-')} must be at least 1")
        if not (0.0 <= self.p_uncond <= 1.0 and 0.0 <= self.stage2_fraction <= 1.0 and 0.0 <= self.loose <= 1.0):
            raise DissError("--p-uncond, --stage2-fraction and --loose must lie in [0, 1]")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise DissError("--lr must be a positive number")
        if not 0.0 <= self.ema_decay < 1.0:
            raise DissError("--ema-decay must lie in [0, 1)")
        for name in ("weight_decay", "grad_clip", "vlb_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise DissError(f"--{name.replace('_', '-')} must be a finite number ≥ 0, not {value}")
        if self.warmup_steps < 0 or self.workers < 0:
            raise DissError("--warmup-steps and --workers must be ≥ 0")
        if self.time_limit is not None and not (math.isfinite(self.time_limit) and self.time_limit > 0):
            raise DissError("--time-limit must be a positive number of minutes")
        if self.task not in TASKS:
            raise DissError(f"--task must be one of {', '.join(TASKS)}, not {self.task!r}")
        if self.task == "upsampler":
            from diss.upsampler import upsampler_preset

            upsampler_preset(self.preset)  # unknown preset → one clear error
        elif self.task == "student":
            from diss.folder import check_model_folder, resolve_model

            check_model_folder(resolve_model(self.teacher))  # a missing or damaged teacher: one line, before anything
        else:
            preset(self.preset)

    def stage2_start(self) -> int:
        """First step (0-based) trained with condition dropout."""
        if self.stage == "1":
            return self.max_steps
        if self.stage == "2":
            return 0
        return int(round(self.max_steps * (1.0 - self.stage2_fraction)))
