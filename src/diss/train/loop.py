"""Two-stage training of the DiSS U-Net with accelerate: one CPU, one GPU or many, with the same code.

Stage 1 always gives both conditions; stage 2 fine-tunes with each condition independently replaced by Φ with
probability ``p_uncond`` (0.3 in the paper), which makes the two-dimensional classifier-free guidance possible
(``diss.two_stage``).
Everything random in a step (data order, augmentation, noise, timesteps, condition dropout) is derived from
(seed, step), so a resumed run sees exactly what an uninterrupted one would (``diss.train.schedule``); a run's
checkpoints, previews and log are ``diss.train.run``'s.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from diss import defaults
from diss.data.augment import AugmentConfig
from diss.data.dataset import SketchStrokeDataset
from diss.diffusion import q_sample, training_loss
from diss.errors import DissError
from diss.model import ModelConfig, count_parameters, model_input
from diss.outputs import write_json
from diss.runtime import Runtime
from diss.train.checkpoint import list_checkpoints
from diss.train.config import STAGES, TrainConfig  # noqa: F401  (also importable from here, as before)
from diss.train.distill import distill_loss
from diss.train.run import Run, model_config_of, setup_run
from diss.train.schedule import EpochIndexed, StepBatches, TimeBudget, learning_rate, step_generator
from diss.two_stage import stage_at, training_conditions
from diss.upsampler import upsampler_loss


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
        old.setdefault("factor", defaults.UPSAMPLER_FACTOR)  # runs from before --factor were all 4×
        for key in (
            "task",
            "preset",
            "size",
            "crop",
            "factor",
            "learned_variance",
            "beta_schedule",
            "batch_size",
            "grad_accum",
            "seed",
        ):
            if key in old and old[key] != getattr(config, key) and getattr(config, key) is not None:
                raise DissError(
                    f"{run} was trained with {key}={old[key]!r}, not {getattr(config, key)!r}; resume with the "
                    "same settings or train into another folder"
                )
    elif has_checkpoints:
        raise DissError(f"{run} already holds a training run; pass --resume to continue it or choose another --out")
    elif run.exists() and any(p for p in run.iterdir() if not p.name.startswith(".")) and not saved.is_file():
        raise DissError(f"{run} is not empty and holds no diss training run; choose a new or empty folder")
    model_config = model_config_of(config)
    if is_main:
        run.mkdir(parents=True, exist_ok=True)
        write_json(saved, dataclasses.asdict(config))
        write_json(run / "model_config.json", model_config.to_json())
    return config, model_config


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


def _micro_step(run: Run, model, batch: dict, step: int, g, stage2_start: int, memory_format):
    """One micro-batch: noise and timesteps from ``g``, the stage's conditions, the loss, backward and (when the
    accumulation is complete) the optimizer step. Returns (loss, its parts)."""
    accelerator, config, scheduler = run.accelerator, run.config, run.scheduler
    image, sketch, stroke = (batch[k].to(accelerator.device, memory_format=memory_format, non_blocking=True)
                             for k in ("image", "sketch", "stroke"))  # fmt: skip
    with accelerator.accumulate(model):
        if config.task == "upsampler":  # random crops, noise-conditioning augmentation, v-prediction
            # stage 2 drops the sketch to Φ as the base's does: a cascade without lines, and the sketch's guidance
            sketch, _ = training_conditions(sketch, stroke, step, stage2_start, config.p_uncond, g)
            with accelerator.autocast():
                loss = upsampler_loss(model, scheduler, image, sketch, g, config.crop, config.factor)
            parts = {}
        elif config.task == "student":  # the teacher's guided trajectory, or the student's own halvings
            loss, parts = distill_loss(model, run.teacher, scheduler, image, sketch, stroke, g, config.p_uncond,
                                       accelerator.autocast)  # fmt: skip
        else:
            noise = torch.randn(image.shape, generator=g, device=g.device).to(accelerator.device)
            noise = noise.contiguous(memory_format=memory_format)
            t = torch.randint(0, scheduler.config.num_train_timesteps, (image.shape[0],), generator=g, device=g.device)
            t = t.to(accelerator.device)
            sketch, stroke = training_conditions(sketch, stroke, step, stage2_start, config.p_uncond, g)
            x_t = q_sample(scheduler, image, noise, t)
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


def _budget_decision(budget: TimeBudget, step: int, config: TrainConfig, accelerator) -> int | None:
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
    augmentation = AugmentConfig(loose=config.loose) if config.augment else None
    dataset = SketchStrokeDataset(config.data, augmentation=augmentation, seed=config.seed, size=config.size)
    config.size = dataset.size
    accelerator, log_with = _accelerator(config)
    config, model_config = _prepare_run_folder(config, resume, accelerator.is_main_process)
    accelerator.wait_for_everyone()
    run = setup_run(config, model_config, accelerator, dataset)
    run.restore(resume)
    if run.start_step >= config.max_steps:
        run.say(f"{config.out} is already at step {run.start_step} (--max-steps {config.max_steps}); nothing to do")
        return run.unet
    if config.channels_last:
        run.unet = run.unet.to(memory_format=torch.channels_last)
        if run.teacher is not None:
            run.teacher.unet = run.teacher.unet.to(memory_format=torch.channels_last)
    run.ema.to(accelerator.device)
    model, run.optimizer = accelerator.prepare(run.unet, run.optimizer)
    run.unet = accelerator.unwrap_model(model)  # before compiling: checkpoints hold the plain module's names
    if config.compile:
        model = torch.compile(model)
    world, rank = accelerator.num_processes, accelerator.process_index
    batches = StepBatches(len(dataset), config.batch_size, world, rank, config.grad_accum, config.seed,
                          run.start_step, config.max_steps)  # fmt: skip
    workers = config.workers
    loader = DataLoader(EpochIndexed(dataset), batch_sampler=batches, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=accelerator.device.type == "cuda")  # fmt: skip
    if accelerator.is_main_process:
        student = config.task == "student"  # no stages: its conditions are dropped at every step
        what = f"a student of {config.teacher or 'flowers'}" if student else config.preset
        stages = "" if student else f" (stage 2 from {config.stage2_start()})"
        run.say(
            f"training {what} ({count_parameters(run.unet) / 1e6:.1f}M params) on {len(dataset)} images at "
            f"{config.size}px: steps {run.start_step}→{config.max_steps}{stages}, "
            f"global batch {batches.global_batch}, {world} process(es), {accelerator.mixed_precision} precision, "
            f"{accelerator.device}"
        )
    if log_with:
        plain = {k: v for k, v in dataclasses.asdict(config).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("diss", config=plain)
    step = _loop(run, model, loader, batches.global_batch, log_with, progress, on_step, started)
    accelerator.end_training()
    if accelerator.is_main_process:
        from diss.train.export import export_pipeline

        export_pipeline(config.out, Path(config.out) / "pipeline")
        run.say(f"done: step {step}, {run.images_seen:,} images seen; model: {Path(config.out) / 'pipeline'}")
    return run.unet


def _loop(run: Run, model, loader, global_batch: int, log_with, progress: bool, on_step, started: float) -> int:
    """The optimizer steps from ``run.start_step`` to ``max_steps`` (or the time limit's plan); Ctrl-C or SIGTERM
    saves the step reached. Returns the last step."""
    from tqdm.auto import tqdm

    accelerator, config = run.accelerator, run.config
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    gen_device = accelerator.device if accelerator.device.type == "cuda" else "cpu"
    stage2_start, start_step = config.stage2_start(), run.start_step
    budget = TimeBudget(config.time_limit, start_step, started)
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
        write_json(Path(config.out) / "train_config.json", dataclasses.asdict(config))


# ---------------------------------------------------------------------------------------------------- export
