"""The settings of a training run (``TrainConfig``), decided here once for ``diss train`` and its command line.

This module imports no torch or diffusers, so that ``diss --help`` and the argument parser start at once; the checks
that need the model code import it when they run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diss.errors import DissError

STAGES = ("1", "2", "both")


@dataclass
class TrainConfig:
    """Every setting of a training run; saved as ``RUN/train_config.json``."""

    data: str
    out: str
    preset: str = "small"
    size: int | None = None  # None: the cache's size
    stage: str = "both"  # "1", "2" or "both"
    max_steps: int = 20_000
    stage2_fraction: float = 0.3  # with stage "both": the last share of the steps is stage 2
    p_uncond: float = 0.3  # stage 2: chance of Φ for each condition, independently
    batch_size: int = 32  # per process and micro-step
    grad_accum: int = 1
    lr: float = 2e-4
    lr_schedule: str = "constant"  # or "cosine" (decay to 10% over max_steps)
    warmup_steps: int = 500
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    beta_schedule: str = "linear"
    learned_variance: bool = False
    vlb_weight: float = 0.001
    precision: str = "auto"  # auto, fp32, bf16, fp16
    channels_last: bool = True
    compile: bool = False
    augment: bool = True
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    preview_every: int = 1000
    preview_steps: int = 25
    log_every: int = 50
    workers: int = 0
    init: str | None = None  # start from the weights of another run's newest checkpoint
    time_limit: float | None = None  # minutes: measure the speed early, shorten max_steps to fit, stop in time

    def validate(self) -> None:
        if self.stage not in STAGES:
            raise DissError(f"--stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise DissError(f"--lr-schedule must be constant or cosine, not {self.lr_schedule!r}")
        from diss.diffusion import BETA_SCHEDULES  # torch: only when a run is checked
        from diss.model import preset

        if self.beta_schedule not in BETA_SCHEDULES:
            raise DissError(f"--schedule must be one of {', '.join(BETA_SCHEDULES)}, not {self.beta_schedule!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise DissError(f"--precision must be auto, fp32, bf16 or fp16, not {self.precision!r}")
        for name in ("max_steps", "batch_size", "grad_accum", "checkpoint_every", "preview_every", "log_every"):
            if getattr(self, name) < 1:
                raise DissError(f"--{name.replace('_', '-')} must be at least 1")
        if not (0.0 <= self.p_uncond <= 1.0 and 0.0 <= self.stage2_fraction <= 1.0):
            raise DissError("--p-uncond and --stage2-fraction must lie in [0, 1]")
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
        preset(self.preset)  # unknown preset → one clear error

    def stage2_start(self) -> int:
        """First step (0-based) trained with condition dropout."""
        if self.stage == "1":
            return self.max_steps
        if self.stage == "2":
            return 0
        return int(round(self.max_steps * (1.0 - self.stage2_fraction)))
