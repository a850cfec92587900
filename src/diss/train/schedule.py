"""What each step of a training run sees, as a function of (seed, step) so that a resumed run sees exactly what an
uninterrupted one would: the data order (``StepBatches`` over ``EpochIndexed``), the generator of its noise, timesteps
and condition dropout (``step_generator``), its learning rate (``learning_rate``); and the time budget that fits a run
into ``--time-limit`` (``TimeBudget``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from diss.data.dataset import SketchStrokeDataset
from diss.train.config import TrainConfig


class EpochIndexed(Dataset):
    """Virtual index ``epoch * N + i`` → item i of ``dataset`` augmented with the epoch's seed."""

    def __init__(self, dataset: SketchStrokeDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, v: int):
        epoch, i = divmod(int(v), len(self.dataset))
        return self.dataset.item(i, epoch)


class StepBatches(Sampler):
    """Batches of virtual indices for steps ``[start, end)``: a seeded permutation per epoch, the global batch of each
    step split into ``accum`` micro-batches × ``world`` processes. The order depends only on (seed, global batch)."""

    def __init__(self, n: int, per_device: int, world: int, rank: int, accum: int, seed: int, start: int, end: int):
        self.n, self.per_device, self.world, self.rank, self.accum = n, per_device, world, rank, accum
        self.seed, self.start, self.end = seed, start, end
        self.global_batch = per_device * world * accum
        self._perm_epoch, self._perm = -1, None

    def _position(self, pos: int) -> int:
        epoch, k = divmod(pos, self.n)
        if epoch != self._perm_epoch:
            self._perm_epoch, self._perm = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return epoch * self.n + int(self._perm[k])

    def __iter__(self):
        for step in range(self.start, self.end):
            for micro in range(self.accum):
                offset = step * self.global_batch + (micro * self.world + self.rank) * self.per_device
                yield [self._position(offset + j) for j in range(self.per_device)]

    def __len__(self) -> int:
        return (self.end - self.start) * self.accum


def step_generator(seed: int, step: int, micro: int, rank: int, device="cpu") -> torch.Generator:
    """The generator of one micro-step's noise, timesteps and condition dropout (on ``device``: no host copies)."""
    seed_value = int(np.random.SeedSequence([seed, step, micro, rank]).generate_state(1)[0])
    return torch.Generator(device).manual_seed(seed_value)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then constant or cosine decay to 10%."""
    warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
    if config.lr_schedule == "cosine":
        progress = min(1.0, step / max(1, config.max_steps))
        return config.lr * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))
    return config.lr * warm


class TimeBudget:
    """Fits a run into ``--time-limit`` minutes: measures the step rate once the first steps (and any compilation)
    are done, shortens ``max_steps`` so the run, its checkpoints and the export end in time, and stops at the deadline
    whatever happens. The shortened plan is written to ``train_config.json`` so a resumed run keeps it. The rate is
    measured over ``MEASURE`` steps, or over the steps of the first ``MEASURE_SECONDS`` where steps are slow (a
    distillation step of many seconds on a CPU), so that the plan comes within a few minutes either way."""

    WARM, MEASURE, EVERY = 10, 50, 5  # steps skipped (compilation, warm-up), steps measured at most, looked at every
    MEASURE_SECONDS = 60.0  # measured at least this long (at least EVERY steps) before a plan is made from fewer

    def __init__(self, minutes: float | None, start_step: int, started: float, clock=time.perf_counter):
        self.deadline = None if minutes is None else started + 60.0 * minutes
        self.reserve = 0.0 if minutes is None else min(120.0, 15.0 + 0.05 * 60.0 * minutes)  # final save + export
        self.start_step, self.t_warm, self.planned, self.clock = start_step, None, False, clock

    def tick(self, step: int) -> None:
        if step == self.start_step + self.WARM:
            self.t_warm = self.clock()

    def due(self, step: int, every: int) -> bool:
        """Whether to decide at ``step``: the same steps on every process (whatever their clocks say), so they can
        agree by a broadcast: every EVERY steps of the measuring window, and every ``every`` steps."""
        measured = step - self.start_step - self.WARM
        measuring = 0 < measured <= self.MEASURE and measured % self.EVERY == 0
        return self.deadline is not None and (measuring or step % every == 0)

    def decide(self, step: int, max_steps: int) -> int | None:
        """A new, smaller max_steps: the fitted plan once the rate is measured, or ``step`` itself once the deadline
        (less the reserve) has passed; None to go on as planned."""
        now = self.clock()
        if now > self.deadline - self.reserve:
            return step if step < max_steps else None
        measured = step - self.start_step - self.WARM
        if self.planned or self.t_warm is None or not 0 < measured <= self.MEASURE:
            return None
        if measured < self.MEASURE and now - self.t_warm < self.MEASURE_SECONDS:
            return None
        self.planned = True
        rate = measured / max(now - self.t_warm, 1e-9)
        return step + max(0, int(rate * (self.deadline - self.reserve - now) * 0.97))
