"""Two-stage training of the DiSS U-Net with accelerate: one CPU, one GPU or many, with the same code.

Stage 1 always gives both conditions; stage 2 fine-tunes with each condition independently replaced by Φ with
probability ``p_uncond`` (0.3 in the paper), which makes the two-dimensional classifier-free guidance possible
(``diss.two_stage``).
Everything random in a step (data order, augmentation, noise, timesteps, condition dropout) is derived from
(seed, step), so a resumed run sees exactly what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from diss import defaults
from diss.checkpoint import Checkpoint, list_checkpoints, load_newest, save_checkpoint
from diss.conventions import PHI_VALUE, from_model
from diss.data.augment import AugmentConfig
from diss.data.dataset import SketchStrokeDataset
from diss.diffusion import make_scheduler, q_sample, training_loss
from diss.errors import DissError
from diss.model import ModelConfig, build_unet, count_parameters, model_input, preset
from diss.runtime import Runtime
from diss.train_config import STAGES, TrainConfig  # noqa: F401  (also importable from here, as before)
from diss.two_stage import stage_at, training_conditions

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------- data order


class _EpochIndexed(Dataset):
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


class _TimeBudget:
    """Fits a run into ``--time-limit`` minutes: measures the step rate once the first steps (and any compilation)
    are done, shortens ``max_steps`` so the run, its checkpoints and the export end in time, and stops at the deadline
    whatever happens. The shortened plan is written to ``train_config.json`` so a resumed run keeps it."""

    WARM, MEASURE = 10, 50  # steps skipped (compilation, warm-up), steps measured

    def __init__(self, minutes: float | None, start_step: int, started: float):
        self.deadline = None if minutes is None else started + 60.0 * minutes
        self.reserve = 0.0 if minutes is None else min(120.0, 15.0 + 0.05 * 60.0 * minutes)  # final save + export
        self.start_step, self.t_warm = start_step, None

    def tick(self, step: int) -> None:
        if step == self.start_step + self.WARM:
            self.t_warm = time.perf_counter()

    def due(self, step: int, every: int) -> bool:
        """Whether to decide at ``step``: the same steps on every process, so they can agree by a broadcast."""
        return self.deadline is not None and (step == self.start_step + self.WARM + self.MEASURE or step % every == 0)

    def decide(self, step: int, max_steps: int) -> int | None:
        """A new, smaller max_steps: the fitted plan at the end of the measuring window, or ``step`` itself once the
        deadline (less the reserve) has passed; None to go on as planned."""
        now = time.perf_counter()
        if now > self.deadline - self.reserve:
            return step if step < max_steps else None
        if step == self.start_step + self.WARM + self.MEASURE and self.t_warm is not None:
            rate = self.MEASURE / max(now - self.t_warm, 1e-9)
            return step + max(0, int(rate * (self.deadline - self.reserve - now) * 0.97))
        return None


def _sigterm_as_interrupt():
    """Turn SIGTERM (a scheduler's kill, ``timeout``, a closing terminal) into KeyboardInterrupt so the run saves a
    checkpoint before it exits; returns the previous handler (None where signals cannot be set, off the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


# ---------------------------------------------------------------------------------------------------- the run


def _prepare_run_folder(config: TrainConfig, resume: bool, is_main: bool) -> tuple[TrainConfig, ModelConfig]:
    run = Path(config.out)
    saved = run / "train_config.json"
    has_checkpoints = bool(list_checkpoints(run))
    if resume and saved.is_file():
        try:
            old = json.loads(saved.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise DissError(f"{saved} is damaged ({e}); cannot resume this run") from None
        for key in ("preset", "size", "learned_variance", "beta_schedule", "batch_size", "grad_accum", "seed"):
            if key in old and old[key] != getattr(config, key) and getattr(config, key) is not None:
                raise DissError(
                    f"{run} was trained with {key}={old[key]!r}, not {getattr(config, key)!r}; resume with the "
                    "same settings or train into another folder"
                )
    elif has_checkpoints:
        raise DissError(f"{run} already holds a training run; pass --resume to continue it or choose another --out")
    elif run.exists() and any(p for p in run.iterdir() if not p.name.startswith(".")) and not saved.is_file():
        raise DissError(f"{run} is not empty and holds no diss training run; choose a new or empty folder")
    model_config = preset(config.preset, config.learned_variance)
    if is_main:
        run.mkdir(parents=True, exist_ok=True)
        tmp = run / ".train_config.json.tmp"
        tmp.write_text(json.dumps(dataclasses.asdict(config), indent=2), encoding="utf-8")
        os.replace(tmp, saved)
        (run / "model_config.json").write_text(json.dumps(model_config.to_json(), indent=2), encoding="utf-8")
    return config, model_config


def _load_init(path: str) -> dict[str, torch.Tensor]:
    """EMA weights of the newest checkpoint of another run (to fine-tune stage 2 from a stage-1 run)."""
    ckpt = load_newest(path)
    if ckpt is None:
        raise DissError(f"--init {path} holds no complete checkpoint")
    return ckpt.ema


@torch.no_grad()
def preview_samples(unet, scheduler_config, items: list[dict], steps: int, seed: int, device) -> list[np.ndarray]:
    """Conditional samples (both conditions) for preview items, with DDIM; uint8 (S, S, 3) each."""
    from diffusers import DDIMScheduler

    from diss.sampling import sample

    scheduler = DDIMScheduler.from_config(scheduler_config)
    sketch = torch.stack([it["sketch"] for it in items]).to(device)
    stroke = torch.stack([it["stroke"] for it in items]).to(device)
    noise = torch.randn((len(items), 3, *sketch.shape[-2:]), generator=torch.Generator().manual_seed(seed))
    dtype = next(unet.parameters()).dtype

    def denoiser(x, t):
        return unet(model_input(x, sketch, stroke).to(dtype), t).sample.float()

    x0 = sample(denoiser, scheduler, noise.to(device), steps)
    return list(from_model(x0))


def _accelerator(config: TrainConfig):
    """(accelerate's Accelerator on the runtime's device and precision, its log tracker or None)."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    runtime = Runtime.detect(config.precision)  # DISS_DEVICE, else a CUDA GPU, else the CPU
    if runtime.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    mixed_precision = runtime.mixed_precision  # fp16 on a CPU: one clear error, before anything starts
    log_with = None
    try:
        import tensorboard  # noqa: F401

        log_with = "tensorboard"
    except ImportError:
        pass
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:  # a second run in one process may use another precision
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(
        cpu=runtime.device.type == "cpu",  # lets a torchrun / accelerate launch on CPUs form a gloo process group
        mixed_precision=mixed_precision,
        gradient_accumulation_steps=config.grad_accum,
        log_with=log_with,
        project_config=ProjectConfiguration(project_dir=config.out, logging_dir=str(Path(config.out) / "logs")),
    )
    return accelerator, log_with


@dataclasses.dataclass
class _Run:
    """One training run while it trains: what its steps, checkpoints, previews and logs share."""

    config: TrainConfig
    model_config: ModelConfig
    accelerator: object
    unet: torch.nn.Module  # the plain module: checkpoints hold its names
    optimizer: torch.optim.Optimizer
    ema: object
    scheduler: object
    fused: bool
    start_step: int = 0
    images_seen: int = 0
    preview_items: list = dataclasses.field(default_factory=list)

    def say(self, text: str) -> None:
        self.accelerator.print(text)

    def warn(self, text: str) -> None:
        if self.accelerator.is_main_process:
            log.warning(text)

    def restore(self, resume: bool) -> None:
        """The newest checkpoint that loads (``resume``), else the weights of ``--init``, else the seeded start."""
        from diffusers.training_utils import EMAModel

        config = self.config
        ckpt = load_newest(config.out, warn=self.warn) if resume else None
        if resume and ckpt is None and list_checkpoints(config.out):
            self.warn("warning: no checkpoint of this run could be loaded; starting again from step 0")
        if ckpt is not None:
            try:
                self.unet.load_state_dict(ckpt.model)
                self.optimizer.load_state_dict(ckpt.optimizer)
                for group in self.optimizer.param_groups:  # the checkpoint's kernel choice is its machine's
                    group.update(fused=self.fused, foreach=None)
                shadow = [ckpt.ema[n] for n, _ in self.unet.named_parameters()]
                self.ema.load_state_dict({**ckpt.state.get("ema_counters", {}), "shadow_params": shadow})
            except (RuntimeError, KeyError, ValueError) as e:
                raise DissError(f"the checkpoint of {config.out} does not fit preset {config.preset} ({e})") from None
            self.start_step, self.images_seen = ckpt.step, int(ckpt.state.get("images_seen", 0))
            self.say(f"resuming {config.out} at step {self.start_step}")
        elif config.init:
            try:
                self.unet.load_state_dict(_load_init(config.init))
            except RuntimeError as e:
                raise DissError(f"--init {config.init} does not fit preset {config.preset} ({e})") from None
            self.ema = EMAModel(self.unet.parameters(), decay=config.ema_decay, foreach=True)

    def checkpoint(self, step: int) -> None:
        accelerator, config = self.accelerator, self.config
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            names = [n for n, _ in self.unet.named_parameters()]
            counters = {k: v for k, v in self.ema.state_dict().items() if k != "shadow_params"}
            state = {
                "images_seen": self.images_seen,
                "ema_counters": counters,
                "preset": config.preset,
                "model_config": self.model_config.to_json(),
            }
            ema = dict(zip(names, self.ema.shadow_params, strict=True))
            save_checkpoint(
                config.out,
                Checkpoint(step=step, model=self.unet.state_dict(), ema=ema, optimizer=self.optimizer.state_dict(),
                           state=state),
                keep=config.keep_checkpoints,
            )  # fmt: skip
        accelerator.wait_for_everyone()

    def preview(self, step: int) -> None:
        """A PNG grid in RUN/previews: photo | sketch | strokes | a sample of the EMA weights, for a few images."""
        if not self.accelerator.is_main_process:
            return
        from diss.grid import save_grid

        raw, ema, config = self.unet, self.ema, self.config
        ema.store(raw.parameters())
        ema.copy_to(raw.parameters())
        raw.eval()
        samples = preview_samples(
            raw, self.scheduler.config, self.preview_items, config.preview_steps, config.seed, self.accelerator.device
        )
        raw.train()
        ema.restore(raw.parameters())
        rows = [
            [from_model(it["image"]), from_model(it["sketch"]), from_model(it["stroke"]), s]
            for it, s in zip(self.preview_items, samples, strict=True)
        ]
        folder = Path(config.out) / "previews"
        folder.mkdir(exist_ok=True)
        save_grid(folder / f"step-{step:08d}.png", rows, col_labels=["photo", "sketch", "stroke", f"EMA @ {step}"])

    def log(self, record: dict, log_with) -> None:
        """One record into the tracker (TensorBoard) and RUN/log.jsonl."""
        if log_with:
            self.accelerator.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])
        if self.accelerator.is_main_process:
            with open(Path(self.config.out) / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


def _setup(config: TrainConfig, model_config: ModelConfig, accelerator, dataset) -> _Run:
    """The seeded U-Net, its optimizer and EMA, the schedule and the preview images of a run."""
    from diffusers.training_utils import EMAModel

    torch.manual_seed(config.seed)  # the initial weights, the same in every run and every process of a run
    unet = build_unet(model_config, config.size)
    # fused AdamW: 2,849 vs 2,766 img/s compiled on an H100 (BENCHMARKS.md [7/8]); no faster on CPUs, so kept to GPUs
    fused = accelerator.device.type == "cuda"
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    ema = EMAModel(unet.parameters(), decay=config.ema_decay, foreach=True)
    scheduler = make_scheduler(config.beta_schedule, config.learned_variance)
    picks = np.linspace(0, len(dataset) - 1, min(4, len(dataset))).round().astype(int)
    items = [dataset.item(i, None, augment=False) for i in picks]
    return _Run(config, model_config, accelerator, unet, optimizer, ema, scheduler, fused, preview_items=items)


def _micro_step(run: _Run, model, batch: dict, step: int, g, stage2_start: int, memory_format):
    """One micro-batch: noise and timesteps from ``g``, the stage's conditions, the loss, backward and (when the
    accumulation is complete) the optimizer step. Returns (loss, its parts)."""
    accelerator, config, scheduler = run.accelerator, run.config, run.scheduler
    image, sketch, stroke = (batch[k].to(accelerator.device, memory_format=memory_format, non_blocking=True)
                             for k in ("image", "sketch", "stroke"))  # fmt: skip
    noise = torch.randn(image.shape, generator=g, device=g.device).to(accelerator.device)
    noise = noise.contiguous(memory_format=memory_format)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (image.shape[0],), generator=g, device=g.device)
    t = t.to(accelerator.device)
    sketch, stroke = training_conditions(sketch, stroke, step, stage2_start, config.p_uncond, g)
    x_t = q_sample(scheduler, image, noise, t)
    with accelerator.accumulate(model):
        with accelerator.autocast():
            out = model(model_input(x_t, sketch, stroke), t).sample
        loss, parts = training_loss(scheduler, out, image, x_t, t, noise, config.vlb_weight)
        accelerator.backward(loss)
        if accelerator.sync_gradients and config.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
        for group in run.optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
    return loss, parts


def _budget_decision(budget: _TimeBudget, step: int, config: TrainConfig, accelerator) -> int | None:
    """The time budget's new max_steps at ``step`` (or None), the main process's on every process."""
    due = budget.due(step, config.log_every)
    new_max = budget.decide(step, config.max_steps) if due else None
    if due and accelerator.num_processes > 1:  # every process takes the main one's decision
        from accelerate.utils import broadcast

        mine = torch.tensor([-1 if new_max is None else new_max], device=accelerator.device)
        new_max = int(broadcast(mine, from_process=0).item())
        new_max = None if new_max < 0 else new_max
    return new_max


def train(config: TrainConfig, resume: bool = False, progress: bool = True, on_step=None):
    """Train (or resume) a run; returns the unwrapped U-Net (raw weights) at the end.

    ``on_step(step)`` is called after every optimizer step (tests use it to simulate a crash).
    """
    started = time.perf_counter()
    config.validate()
    augmentation = AugmentConfig() if config.augment else None
    dataset = SketchStrokeDataset(config.data, augmentation=augmentation, seed=config.seed, size=config.size)
    config.size = dataset.size
    accelerator, log_with = _accelerator(config)
    config, model_config = _prepare_run_folder(config, resume, accelerator.is_main_process)
    accelerator.wait_for_everyone()
    run = _setup(config, model_config, accelerator, dataset)
    run.restore(resume)
    if run.start_step >= config.max_steps:
        run.say(f"{config.out} is already at step {run.start_step} (--max-steps {config.max_steps}); nothing to do")
        return run.unet
    if config.channels_last:
        run.unet = run.unet.to(memory_format=torch.channels_last)
    run.ema.to(accelerator.device)
    model, run.optimizer = accelerator.prepare(run.unet, run.optimizer)
    run.unet = accelerator.unwrap_model(model)  # before compiling: checkpoints hold the plain module's names
    if config.compile:
        model = torch.compile(model)
    world, rank = accelerator.num_processes, accelerator.process_index
    batches = StepBatches(len(dataset), config.batch_size, world, rank, config.grad_accum, config.seed,
                          run.start_step, config.max_steps)  # fmt: skip
    workers = config.workers
    loader = DataLoader(_EpochIndexed(dataset), batch_sampler=batches, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=accelerator.device.type == "cuda")  # fmt: skip
    if accelerator.is_main_process:
        run.say(
            f"training {config.preset} ({count_parameters(run.unet) / 1e6:.1f}M params) on {len(dataset)} images at "
            f"{config.size}px: steps {run.start_step}→{config.max_steps} (stage 2 from {config.stage2_start()}), "
            f"global batch {batches.global_batch}, {world} process(es), {accelerator.mixed_precision} precision, "
            f"{accelerator.device}"
        )
    if log_with:
        plain = {k: v for k, v in dataclasses.asdict(config).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("diss", config=plain)
    step = _loop(run, model, loader, batches.global_batch, log_with, progress, on_step, started)
    accelerator.end_training()
    if accelerator.is_main_process:
        export_pipeline(config.out, Path(config.out) / "pipeline")
        run.say(f"done: step {step}, {run.images_seen:,} images seen; model: {Path(config.out) / 'pipeline'}")
    return run.unet


def _loop(run: _Run, model, loader, global_batch: int, log_with, progress: bool, on_step, started: float) -> int:
    """The optimizer steps from ``run.start_step`` to ``max_steps`` (or the time limit's plan); Ctrl-C or SIGTERM
    saves the step reached. Returns the last step."""
    from tqdm.auto import tqdm

    accelerator, config = run.accelerator, run.config
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    gen_device = accelerator.device if accelerator.device.type == "cuda" else "cpu"
    stage2_start, start_step = config.stage2_start(), run.start_step
    budget = _TimeBudget(config.time_limit, start_step, started)
    model.train()
    shown = progress and accelerator.is_local_main_process
    bar = tqdm(total=config.max_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True,
               disable=not shown)  # fmt: skip
    step, micro = start_step, 0
    running, running_n = torch.zeros((), device=accelerator.device), 0
    t_last, imgs_last = time.perf_counter(), run.images_seen
    previous_sigterm = _sigterm_as_interrupt()
    try:
        for batch in loader:
            g = step_generator(config.seed, step, micro, accelerator.process_index, gen_device)
            loss, parts = _micro_step(run, model, batch, step, g, stage2_start, memory_format)
            running += loss.detach()  # stays on the device: no host sync per step
            running_n, micro = running_n + 1, micro + 1
            if micro < config.grad_accum:
                continue
            micro = 0
            run.ema.step(run.unet.parameters())
            step += 1
            run.images_seen += global_batch
            bar.update(1)
            if step % config.log_every == 0 or step == config.max_steps:
                mean_loss = accelerator.reduce(running / max(running_n, 1), reduction="mean").item()
                now = time.perf_counter()
                rate = (run.images_seen - imgs_last) / max(now - t_last, 1e-9)
                t_last, imgs_last, running, running_n = now, run.images_seen, torch.zeros_like(running), 0
                stage = stage_at(step - 1, stage2_start)
                bar.set_postfix(loss=f"{mean_loss:.4f}", img_s=f"{rate:.1f}", stage=stage)
                record = {"step": step, "loss": mean_loss, "lr": learning_rate(config, step - 1), "img_per_s": rate,
                          "stage": stage, **{k: float(v) for k, v in parts.items()}}  # fmt: skip
                run.log(record, log_with)
            if step % config.checkpoint_every == 0 or step == config.max_steps:
                run.checkpoint(step)
            if step % config.preview_every == 0 or step == config.max_steps:
                run.preview(step)
                accelerator.wait_for_everyone()
            if on_step is not None:
                on_step(step)
            budget.tick(step)
            new_max = _budget_decision(budget, step, config, accelerator)
            if new_max is not None and new_max < config.max_steps:
                _shorten(config, max(new_max, step), accelerator.is_main_process, run.say)
                stage2_start = config.stage2_start()
                bar.total = config.max_steps
                if step == config.max_steps:
                    run.checkpoint(step)
                    run.preview(step)
                    accelerator.wait_for_everyone()
            if step >= config.max_steps:
                break
    except KeyboardInterrupt:
        bar.close()
        if micro == 0 and step > start_step:
            run.checkpoint(step)
            run.say(f"interrupted: saved step {step}; run again with --resume to go on")
        raise
    finally:
        if previous_sigterm is not None:
            import signal

            signal.signal(signal.SIGTERM, previous_sigterm)
    bar.close()
    return step


def _shorten(config: TrainConfig, max_steps: int, is_main: bool, say) -> None:
    """Set a smaller ``max_steps`` (the time limit's plan) and record it in the run's train_config.json."""
    config.max_steps = max(1, max_steps)
    say(
        f"time limit {config.time_limit:g} min: training to step {config.max_steps} "
        f"(stage 2 from {config.stage2_start()})"
    )
    if is_main:
        saved = Path(config.out) / "train_config.json"
        tmp = saved.with_name(".train_config.json.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(config), indent=2), encoding="utf-8")
        os.replace(tmp, saved)


# ---------------------------------------------------------------------------------------------------- export


def export_pipeline(run: str | os.PathLike, out: str | os.PathLike, dtype: torch.dtype = torch.float16) -> Path:
    """EMA weights of the newest checkpoint → a DiSSPipeline folder (model_index.json, unet/, scheduler/, diss.json)."""
    import shutil

    import diffusers

    from diss.pipeline import DiSSPipeline
    from diss.schedulers import make_sampler

    run, out = Path(run), Path(out)
    ckpt = load_newest(run)
    if ckpt is None:
        raise DissError(f"{run} holds no complete checkpoint to export")
    try:
        train_config = json.loads((run / "train_config.json").read_text(encoding="utf-8"))
        model_config = ModelConfig.from_json(ckpt.state["model_config"])
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise DissError(f"{run} is not a complete diss training run ({e})") from None
    unet = build_unet(model_config, int(train_config["size"]))
    unet.load_state_dict(ckpt.ema)
    diffusers.utils.logging.set_verbosity_error()  # a note about dtype casting that does not apply to a plain U-Net
    unet = unet.to(dtype)
    training = make_scheduler(train_config.get("beta_schedule", "linear"), model_config.learned_variance)
    scheduler = make_sampler(defaults.SAMPLER, training.config)  # the folder holds the scheduler that steps
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        pipe = DiSSPipeline(unet=unet, scheduler=scheduler)
        pipe.diss_meta = {
            "size": int(train_config["size"]),
            "phi": PHI_VALUE,
            "model": model_config.to_json(),
            "beta_schedule": train_config.get("beta_schedule", "linear"),
            "training": {
                "step": ckpt.step,
                "images_seen": ckpt.state.get("images_seen"),
                "stage": train_config.get("stage"),
                "p_uncond": train_config.get("p_uncond"),
                "stage2_start": TrainConfig(
                    **{k: v for k, v in train_config.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
                ).stage2_start(),
            },
        }
        pipe.save_pretrained(tmp)  # with diss.json: the record above and the weights' sums, checked on every load
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DissError(f"could not export the model to {out} ({e.strerror or e})") from None
    return out
