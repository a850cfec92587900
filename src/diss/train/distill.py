"""``diss train --task student``: distil a shipped model (the teacher) into a student that takes the guidance scales as
inputs and gives a picture in 1, 2 or 4 steps (``diss.student``).

Each micro-batch trains one span of one of the student's grids (``student.student_grid``): the photo noised to the
span's start t, the conditions dropped to Φ as in stage 2, a sketch and a stroke scale per sample, uniform over
[0, STUDENT_SCALE_MAX] (0 where the condition is Φ). The target is the x̂₀ whose DDIM step lands (Salimans & Ho):

- for the most steps (k = 4): where the teacher lands over the span — STUDENT_TEACHER_SUBSTEPS of its DDIM steps with
  its two-dimensional guidance (eq. 7) where its own sampler guides (``Teacher``), its conditional ε elsewhere, x̂₀
  clipped, as the teacher samples;
- for fewer (k = 2, 1): where two of the student's own steps of half the span land (no gradient), so the halvings of
  progressive distillation are learned in the same run.

The loss is ‖x̂₀ − x̃‖² weighted by max(SNR, 1) (Salimans & Ho's truncated SNR weighting).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from diss import defaults
from diss.diffusion import q_sample
from diss.guidance import guidance_interval, two_condition_guidance
from diss.schedulers import make_sampler
from diss.student import alpha_sigma, distill_target, eps_from_v, student_grid, student_input, x0_from_v
from diss.two_stage import drop_conditions

#: how often a micro-batch trains each of the student's step counts (defaults.STUDENT_STEP_COUNTS, in order): half of
#: them learn the teacher's trajectory, the others the halvings that bootstrap from it
STEP_COUNT_WEIGHTS = (0.25, 0.25, 0.5)


def _span(g: torch.Generator) -> tuple[int, int, int]:
    """(k, t, t_next): a step count (``STEP_COUNT_WEIGHTS``) and one span of its grid, uniform."""
    weights = torch.tensor(STEP_COUNT_WEIGHTS)
    k = defaults.STUDENT_STEP_COUNTS[int(torch.multinomial(weights, 1, generator=g).item())]
    i = int(torch.randint(0, k, (1,), generator=g).item())
    grid = student_grid(k)
    return k, grid[i], grid[i + 1]


@dataclass
class Teacher:
    """The frozen teacher: its U-Net, and the timesteps where its own sampler (DDIM at its folder's default steps)
    guides, as spans (t_next, t] of its steps: what ``DiSSPipeline`` does at its defaults."""

    unet: torch.nn.Module
    spans: list[tuple[int, int]]

    def guides(self, t: int, t_next: int) -> bool:
        """Whether the teacher guides over [t, t_next]: its middle lies in a step its sampler guides."""
        mid = (t + t_next) / 2
        return any(lo < mid <= hi for lo, hi in self.spans)


def guided_spans(scheduler_config, steps: int) -> list[tuple[int, int]]:
    """The spans (t_next, t] of the steps that DDIM at ``steps`` steps guides (``guidance.guidance_interval`` at the
    defaults' interval)."""
    sampler = make_sampler(defaults.SAMPLER, scheduler_config)
    sampler.set_timesteps(steps)
    ts = [int(t) for t in sampler.timesteps]
    guided = guidance_interval(ts, defaults.GUIDANCE_START, defaults.GUIDANCE_END)
    nexts = [*ts[1:], -1]
    return [(z, a) for a, z in zip(ts, nexts, strict=True) if guided is None or guided(torch.tensor(a))]


@torch.no_grad()
def teacher_lands(teacher: Teacher, alphas_cumprod, x, t: int, t_next: int, sketch, stroke, s_sk, s_st
                  ) -> torch.Tensor:  # fmt: skip
    """Where the teacher's guided DDIM takes x (B, 3, S, S) from t to t_next, in STUDENT_TEACHER_SUBSTEPS steps."""
    m = defaults.STUDENT_TEACHER_SUBSTEPS
    points = [int(round(t - j * (t - t_next) / m)) for j in range(m + 1)]
    state = {"guided": False}
    denoiser = two_condition_guidance(teacher.unet, sketch, stroke, s_sk, s_st, guided=lambda _: state["guided"])
    b = x.shape[0]
    for a, z in zip(points[:-1], points[1:], strict=True):
        state["guided"] = teacher.guides(a, z)
        ta, tz = torch.full((b,), a, device=x.device), torch.full((b,), z, device=x.device)
        (alpha, sigma), (alpha_n, sigma_n) = alpha_sigma(alphas_cumprod, ta), alpha_sigma(alphas_cumprod, tz)
        eps = denoiser(x, ta)[:, :3]
        x0 = ((x - sigma * eps) / alpha).clamp(-1.0, 1.0)  # x̂₀ clipped, ε as predicted: diffusers' DDIM
        x = alpha_n * x0 + sigma_n * eps
    return x


@torch.no_grad()
def student_lands(student, alphas_cumprod, x, t: int, t_next: int, k: int, sketch, stroke, s_sk, s_st) -> torch.Tensor:
    """Where two of the student's own steps (as k steps over the whole schedule) take x from t to t_next."""
    mid = int(round((t + t_next) / 2))
    b = x.shape[0]
    for a, z in ((t, mid), (mid, t_next)):
        ta, tz = torch.full((b,), a, device=x.device), torch.full((b,), z, device=x.device)
        (alpha, sigma), (alpha_n, sigma_n) = alpha_sigma(alphas_cumprod, ta), alpha_sigma(alphas_cumprod, tz)
        v = student(student_input(x, sketch, stroke, s_sk, s_st, k), ta).sample.float()
        x0 = x0_from_v(x, v, alpha, sigma).clamp(-1.0, 1.0)
        eps = eps_from_v(x, v, alpha, sigma)
        x = alpha_n * x0 + sigma_n * eps
    return x


def distill_loss(student, teacher, scheduler, image, sketch, stroke, g: torch.Generator, p_uncond: float, autocast):
    """The loss of one micro-batch (module docstring) and its parts for the log."""
    b, device = image.shape[0], image.device
    alphas_cumprod = scheduler.alphas_cumprod.to(device)
    k, t, t_next = _span(g)
    sketch, stroke, dropped = drop_conditions(sketch, stroke, p_uncond, g)
    scales = torch.rand(b, 2, generator=g, device=g.device).to(device) * defaults.STUDENT_SCALE_MAX
    scales = torch.where(dropped, torch.zeros_like(scales), scales)  # (B, 2): Φ comes with scale 0
    s_sk, s_st = scales[:, 0], scales[:, 1]
    noise = torch.randn(image.shape, generator=g, device=g.device).to(device)
    ts = torch.full((b,), t, device=device)
    x_t = q_sample(scheduler, image, noise, ts)
    was_training = student.training
    student.eval()
    with autocast():
        if k == defaults.STUDENT_STEP_COUNTS[-1]:
            x_next = teacher_lands(teacher, alphas_cumprod, x_t, t, t_next, sketch, stroke, s_sk, s_st)
        else:
            k2 = defaults.STUDENT_STEP_COUNTS[defaults.STUDENT_STEP_COUNTS.index(k) + 1]
            x_next = student_lands(student, alphas_cumprod, x_t, t, t_next, k2, sketch, stroke, s_sk, s_st)
    student.train(was_training)
    (alpha, sigma) = alpha_sigma(alphas_cumprod, ts)
    (alpha_n, sigma_n) = alpha_sigma(alphas_cumprod, torch.full((b,), t_next, device=device))
    target = distill_target(x_t.float(), x_next.float(), alpha, sigma, alpha_n, sigma_n)
    with autocast():
        v = student(student_input(x_t, sketch, stroke, s_sk, s_st, k), ts).sample
    x0 = x0_from_v(x_t, v.float(), alpha, sigma)
    weight = torch.clamp(alpha**2 / sigma**2, min=1.0).reshape(-1)  # (B,): max(SNR, 1)
    per_sample = ((x0 - target) ** 2).mean(dim=(1, 2, 3)) * weight
    return per_sample.mean(), {f"loss_k{k}": per_sample.mean().detach()}


def teacher_sums(spec: str | None) -> dict[str, str]:
    """The SHA-256 of the teacher folder's ``unet`` weights, by their path in it: which teacher a student learned."""
    from diss.folder import resolve_model, sha256_file

    folder = resolve_model(spec)
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted((folder / "unet").glob("*.safetensors"))}


def check_same_teacher(state: dict, spec: str | None, what: str) -> None:
    """Refuse to go on from (or export) a checkpoint distilled from another teacher than ``spec``'s weights."""
    from diss.errors import DissError

    recorded = state.get("teacher_sha256")
    if recorded is not None and recorded != teacher_sums(spec):
        raise DissError(f"{what} distilled from other weights than those of {spec or 'flowers'} now (its unet's "
                        "SHA-256 differs): distil again from these, or use the teacher it was distilled "
                        "from")  # fmt: skip


def teacher_model_config(spec: str | None):
    """The teacher's U-Net shape (a ``model.ModelConfig``), read from its folder's unet/config.json (checked first):
    the student's shape, recorded with its checkpoints."""
    from diss.errors import DissError
    from diss.folder import check_unet_config, read_json, resolve_model
    from diss.model import ModelConfig

    folder = resolve_model(spec)
    cfg = read_json(folder / "unet" / "config.json")
    check_unet_config(cfg, folder)
    if cfg["out_channels"] != 3:
        raise DissError(f"--teacher {folder} has a learned variance; a student is distilled from an ε-only model")
    meta = read_json(folder / "diss.json") if (folder / "diss.json").is_file() else {}
    return ModelConfig(
        preset=str((meta.get("model") or {}).get("preset", "teacher")),
        block_out_channels=tuple(cfg["block_out_channels"]),
        layers_per_block=cfg["layers_per_block"],
        attention=tuple(b.startswith("Attn") for b in cfg["down_block_types"]),
        norm_num_groups=cfg["norm_num_groups"],
        attention_head_dim=cfg.get("attention_head_dim") or 8,
        dropout=float(cfg.get("dropout", 0.0)),
    )


def load_teacher(spec: str | None, size: int) -> tuple[Teacher, object]:
    """The ``Teacher`` (its U-Net in fp32, frozen, in eval mode) and its training noise schedule, for a cache of
    ``size`` px."""
    from diss.diffusion import make_scheduler
    from diss.errors import DissError
    from diss.folder import resolve_model
    from diss.pipeline import DiSSPipeline

    pipe = DiSSPipeline.from_pretrained(resolve_model(spec))
    if pipe.size != size:
        raise DissError(f"--teacher makes {pipe.size} px images; distil it on a {pipe.size} px cache, not {size} px")
    unet = pipe.unet.float().eval().requires_grad_(False)
    spans = guided_spans(pipe.scheduler.config, pipe.default_steps)
    return Teacher(unet, spans), make_scheduler(pipe.diss_meta.get("beta_schedule", "linear"))


@torch.no_grad()
def preview_student(student, scheduler_config, items: list[dict], seed: int, device):
    """(the step counts, per item the student's samples in each) at the default scales, both conditions given."""
    from diss.conventions import from_model
    from diss.runtime import randn
    from diss.sampling import sample
    from diss.student import make_student_sampler, student_denoiser

    sketch = torch.stack([it["sketch"] for it in items]).to(device)  # (B, 1, S, S)
    stroke = torch.stack([it["stroke"] for it in items]).to(device)  # (B, 3, S, S)
    noise = randn((len(items), 3, *sketch.shape[-2:]), torch.Generator().manual_seed(seed)).to(device)
    scheduler = make_student_sampler(scheduler_config)
    counts, columns = defaults.STUDENT_STEP_COUNTS, []
    for k in counts:
        denoiser = student_denoiser(student, scheduler.alphas_cumprod, sketch, stroke, defaults.SKETCH_GUIDANCE_SCALE,
                                    defaults.STROKE_GUIDANCE_SCALE, k)  # fmt: skip
        columns.append(list(from_model(sample(denoiser, scheduler, noise, k))))
    return counts, [list(row) for row in zip(*columns, strict=True)]
