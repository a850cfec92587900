"""One training run while it trains (``Run``): its U-Net, optimizer, EMA and schedule (``setup_run``), and what its
steps share: restoring a checkpoint or ``--init`` weights, saving checkpoints, preview grids of the EMA weights, and
the log."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from diss.conventions import from_model
from diss.diffusion import make_scheduler
from diss.errors import DissError
from diss.model import ModelConfig, build_unet, model_input, preset
from diss.runtime import randn
from diss.train.checkpoint import Checkpoint, list_checkpoints, load_newest, save_checkpoint
from diss.train.config import TrainConfig

log = logging.getLogger("diss.train")  # the training's log lines, under the name they always had


def model_config_of(config: TrainConfig):
    """The network's shape for a run: a ``model.ModelConfig`` (task base) or an ``upsampler.UpsamplerConfig``."""
    if config.task == "upsampler":
        from diss.upsampler import upsampler_preset

        return upsampler_preset(config.preset)
    if config.task == "student":  # the teacher's shape, whatever --preset says
        from diss.train.distill import teacher_model_config

        return teacher_model_config(config.teacher)
    return preset(config.preset, config.learned_variance)


def _load_init(path: str, task: str = "base") -> dict[str, torch.Tensor]:
    """The starting weights of ``--init``: the EMA weights of the newest checkpoint of another run (to fine-tune stage 2
    from a stage-1 run), or the network of a model folder or shipped model (to fine-tune it), checked and in fp32."""
    from diss.folder import SHIPPED_MODELS, check_model_folder, resolve_model

    folder = Path(path)
    is_model = str(path) in SHIPPED_MODELS or (folder / "model_index.json").is_file()
    if is_model and not (folder / "checkpoints").is_dir():
        folder = resolve_model(path)
        check_model_folder(folder)  # layout, safetensors only, config bounds, sums: before anything is read
        sub = folder / (task if task in ("upsampler", "student") else "unet")
        files = sorted(sub.glob("*.safetensors")) if sub.is_dir() else []
        if not files:
            raise DissError(f"--init {path} has no {sub.name}/ network to start from")
        return {k: v.float() for k, v in load_file(files[0]).items()}
    ckpt = load_newest(path)
    if ckpt is None:
        raise DissError(f"--init {path} holds no complete checkpoint (nor is it a model folder)")
    return ckpt.ema


@torch.no_grad()
def preview_samples(unet, scheduler_config, items: list[dict], steps: int, seed: int, device) -> list[np.ndarray]:
    """Conditional samples (both conditions) for preview items, with DDIM; uint8 (S, S, 3) each."""
    from diffusers import DDIMScheduler

    from diss.sampling import sample

    scheduler = DDIMScheduler.from_config(scheduler_config)
    sketch = torch.stack([it["sketch"] for it in items]).to(device)
    stroke = torch.stack([it["stroke"] for it in items]).to(device)
    noise = randn((len(items), 3, *sketch.shape[-2:]), torch.Generator().manual_seed(seed))  # (B, 3, H, W)
    dtype = next(unet.parameters()).dtype

    def denoiser(x, t):
        return unet(model_input(x, sketch, stroke).to(dtype), t).sample.float()

    x0 = sample(denoiser, scheduler, noise.to(device), steps)
    return list(from_model(x0))


@dataclasses.dataclass
class Run:
    """One training run while it trains: what its steps, checkpoints, previews and logs share."""

    config: TrainConfig
    model_config: ModelConfig
    accelerator: object
    unet: torch.nn.Module  # the plain module: checkpoints hold its names
    optimizer: torch.optim.Optimizer
    ema: object
    scheduler: object
    fused: bool
    teacher: object = None  # a student's (task student): diss.train.distill.Teacher
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
            if config.task == "student":
                from diss.train.distill import check_same_teacher

                check_same_teacher(ckpt.state, config.teacher, f"{config.out} was")
            self.say(f"resuming {config.out} at step {self.start_step}")
        elif config.init:
            try:
                self.unet.load_state_dict(_load_init(config.init, config.task))
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
            if config.task == "student":  # which teacher: a resume or an export onto another one is refused
                from diss.train.distill import teacher_sums

                state["teacher_sha256"] = teacher_sums(config.teacher)
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
        device, items = self.accelerator.device, self.preview_items
        if config.task == "upsampler":  # whole images: photo | its low-resolution version enlarged | sample
            from diss.upsampler import preview_upsamples

            lows, samples = preview_upsamples(raw, self.scheduler.config, items, config.preview_steps, config.seed,
                                              device, config.factor)  # fmt: skip
            rows = [[from_model(it["image"]), low, s] for it, low, s in zip(items, lows, samples, strict=True)]
            labels = ["photo", "low (bicubic)", f"EMA @ {step}"]
            grid = {"cell": items[0]["image"].shape[-1]}  # at full size: the detail is what to look at
        elif config.task == "student":  # photo | sketch | strokes | the student's picture in each of its step counts
            from diss.train.distill import preview_student

            counts, samples = preview_student(raw, self.scheduler.config, items, config.seed, device)
            rows = [[from_model(it["image"]), from_model(it["sketch"]), from_model(it["stroke"]), *s]
                    for it, s in zip(items, samples, strict=True)]  # fmt: skip
            labels, grid = ["photo", "sketch", "stroke", *(f"{k} step(s) @ {step}" for k in counts)], {}
        else:
            samples = preview_samples(raw, self.scheduler.config, items, config.preview_steps, config.seed, device)
            rows = [
                [from_model(it["image"]), from_model(it["sketch"]), from_model(it["stroke"]), s]
                for it, s in zip(items, samples, strict=True)
            ]
            labels, grid = ["photo", "sketch", "stroke", f"EMA @ {step}"], {}
        raw.train()
        ema.restore(raw.parameters())
        folder = Path(config.out) / "previews"
        folder.mkdir(exist_ok=True)
        save_grid(folder / f"step-{step:08d}.png", rows, col_labels=labels, **grid)

    def log(self, record: dict, log_with) -> None:
        """One record into the tracker (TensorBoard) and RUN/log.jsonl."""
        if log_with:
            self.accelerator.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])
        if self.accelerator.is_main_process:
            with open(Path(self.config.out) / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


def setup_run(config: TrainConfig, model_config: ModelConfig, accelerator, dataset) -> Run:
    """The seeded U-Net, its optimizer and EMA, the schedule and the preview images of a run."""
    from diffusers.training_utils import EMAModel

    torch.manual_seed(config.seed)  # the initial weights, the same in every run and every process of a run
    if config.task == "upsampler":
        from diss.upsampler import build_upsampler, make_upsampler_scheduler

        unet, scheduler = build_upsampler(model_config, config.crop), make_upsampler_scheduler(config.beta_schedule)
    elif config.task == "student":
        from diss.student import student_from_teacher
        from diss.train.distill import load_teacher

        teacher, scheduler = load_teacher(config.teacher, config.size)
        teacher.unet = teacher.unet.to(accelerator.device)
        unet = student_from_teacher(teacher.unet)
    else:
        unet = build_unet(model_config, config.size)
        scheduler = make_scheduler(config.beta_schedule, config.learned_variance)
    # fused AdamW: 2,849 vs 2,766 img/s compiled on an H100 (BENCHMARKS.md [7/8]); no faster on CPUs, so kept to GPUs
    fused = accelerator.device.type == "cuda"
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    ema = EMAModel(unet.parameters(), decay=config.ema_decay, foreach=True)
    picks = np.linspace(0, len(dataset) - 1, min(4, len(dataset))).round().astype(int)
    items = [dataset.item(i, None, augment=False) for i in picks]
    return Run(config, model_config, accelerator, unet, optimizer, ema, scheduler, fused,
               teacher=teacher if config.task == "student" else None, preview_items=items)  # fmt: skip
