"""The distilled student: the teacher's two-dimensional guidance folded into one network, in one to four steps.

Meng et al. ("On Distillation of Guided Diffusion Models", CVPR 2023) fold classifier-free guidance into the network
by giving it the scale as an input; Salimans & Ho ("Progressive Distillation", ICLR 2022) halve the steps with a
v-parameterised student, whose x̂₀ = α·x_t − σ·v stays usable at t = T where an ε-predictor's x̂₀ = (x_t − σ·ε)/α
divides by α ≈ 0.006. Here one network does all of it:

- its input is concat(x_t, sketch, strokes, s_sk, s_st, k) (B, 10, S, S): the two guidance scales and the number of
  steps k it is asked to take, each a constant map (the scales may be spatial maps, as the teacher's may), divided by
  their ranges (``STUDENT_SCALE_MAX``, ``STUDENT_STEP_COUNTS``);
- its output is v; ``student_denoiser`` turns it into the ε every diss sampler, realism and edit expects, so the
  student runs inside the same loop as its teacher, on DDIM's "trailing" grid (t = 999, 749, … for 4 steps);
- it is trained (``diss.train.distill``) so that one of its DDIM steps from a grid point lands where the teacher's
  guided DDIM lands over the same span (k = 4), and where two of its own steps of half the span land (k = 2 from k = 4,
  k = 1 from k = 2: progressive distillation in one run, the step count an input as in shortcut models, Frans et al.
  2024).

``student_from_teacher`` starts it from the teacher's weights: the new input channels' weights are zero, so at the
start it is the teacher's conditional network read as v.
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, UNet2DModel

from diss import defaults
from diss.conventions import BASE_IN_CHANNELS, STUDENT_IN_CHANNELS
from diss.diffusion import X0_CLIP
from diss.errors import DissError
from diss.model import model_input
from diss.phi import phi_like
from diss.sampling import Denoiser


def step_count_value(steps: int) -> float:
    """The k input map's value for ``steps`` (one of ``STUDENT_STEP_COUNTS``): 0 for the fewest, 1 for the most."""
    counts = defaults.STUDENT_STEP_COUNTS
    if steps not in counts:
        raise DissError(f"the student takes {', '.join(map(str, counts))} steps, not {steps}")
    return counts.index(steps) / max(1, len(counts) - 1)


def scale_map(scale, like: torch.Tensor) -> torch.Tensor:
    """A guidance scale — a number, one per sample (B,), or a map (B, 1, H, W) — as the (B, 1, H, W) input map the
    student reads (divided by ``STUDENT_SCALE_MAX``)."""
    b, _, h, w = like.shape
    s = torch.as_tensor(scale, dtype=torch.float32, device=like.device)
    if s.ndim <= 1:
        s = s.reshape(-1, 1, 1, 1).expand(b, 1, h, w)
    return (s / defaults.STUDENT_SCALE_MAX).to(like.dtype)


def student_input(x_t, sketch, stroke, sketch_scale, stroke_scale, steps: int) -> torch.Tensor:
    """(B, 3, S, S), (B, 1, S, S), (B, 3, S, S), the scales, k → (B, 10, S, S), the order the student is trained with.
    A condition given as Φ should come with scale 0 (its guidance term is zero then, whatever the scale)."""
    k = torch.full_like(x_t[:, :1], step_count_value(steps))
    return torch.cat([model_input(x_t, sketch, stroke), scale_map(sketch_scale, x_t), scale_map(stroke_scale, x_t), k],
                     dim=1)  # fmt: skip


@torch.no_grad()
def student_from_teacher(teacher: UNet2DModel) -> UNet2DModel:
    """A student U-Net with the teacher's shape and weights, its first convolution widened to the student's inputs
    with zero weights for the new channels (so it starts as the teacher's conditional network)."""
    config = dict(teacher.config)
    if config["in_channels"] != BASE_IN_CHANNELS or config.get("class_embed_type") is not None:
        raise DissError("a student is distilled from a base U-Net (x_t, sketch, strokes in), not an upsampler or "
                        "another student")  # fmt: skip
    student = UNet2DModel.from_config({**config, "in_channels": STUDENT_IN_CHANNELS})
    state = {k: v.detach().clone().float() for k, v in teacher.state_dict().items()}
    w = state["conv_in.weight"]  # (C, 7, 3, 3)
    state["conv_in.weight"] = torch.cat([w, w.new_zeros(w.shape[0], STUDENT_IN_CHANNELS - w.shape[1], *w.shape[2:])],
                                        dim=1)  # fmt: skip
    student.load_state_dict(state)
    return student.to(teacher.device)


def alpha_sigma(alphas_cumprod: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(α_t, σ_t) = (√ᾱ_t, √(1 − ᾱ_t)) as (B, 1, 1, 1) for timesteps t (B,); t = −1 is the clean image (1, 0)."""
    a = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod.float()])  # index 0: t = −1
    ab = a.to(t.device).index_select(0, (t.reshape(-1).long() + 1)).reshape(-1, 1, 1, 1)
    return ab.sqrt(), (1.0 - ab).clamp(min=0.0).sqrt()


def x0_from_v(x_t, v, alpha, sigma):
    """x̂₀ = α·x_t − σ·v (v = α·ε − σ·x₀)."""
    return alpha * x_t - sigma * v


def eps_from_v(x_t, v, alpha, sigma):
    """ε̂ = σ·x_t + α·v."""
    return sigma * x_t + alpha * v


def ddim_step(x_t, x0, alpha, sigma, alpha_next, sigma_next):
    """One deterministic DDIM step from x_t to the next grid point, with x̂₀ ``x0`` (ε re-derived from it)."""
    eps = (x_t - alpha * x0) / sigma.clamp(min=1e-8)
    return alpha_next * x0 + sigma_next * eps


def distill_target(x_t, x_next, alpha, sigma, alpha_next, sigma_next):
    """The x̂₀ whose DDIM step takes x_t to ``x_next`` (Salimans & Ho, eq. 8): x̃ = (x_next − (σ'/σ)·x_t) /
    (α' − (σ'/σ)·α); at the clean end (σ' = 0) that is x_next itself."""
    ratio = sigma_next / sigma.clamp(min=1e-8)
    return (x_next - ratio * x_t) / (alpha_next - ratio * alpha)


def student_grid(steps: int, timesteps: int = defaults.TIMESTEPS) -> list[int]:
    """The student's timesteps for ``steps`` steps: DDIM's trailing spacing (999, 749, 499, 249 for 4), then −1."""
    grid = [int(round(timesteps - i * timesteps / steps)) - 1 for i in range(steps)]
    return [*grid, -1]


def make_student_sampler(config) -> DDIMScheduler:
    """The scheduler that steps the student (DDIM on the trailing grid, x̂₀ clipped), from the teacher's config."""
    return DDIMScheduler.from_config(config, timestep_spacing="trailing", **X0_CLIP)


def student_denoiser(unet, alphas_cumprod, sketch, stroke, sketch_scale, stroke_scale, steps: int) -> Denoiser:
    """The student as a denoiser ``(x_t, t) → ε`` (B, 3, S, S) for ``sampling.sample``: one forward per step, the
    guidance folded in. ``sketch`` / ``stroke`` None: Φ with scale 0."""
    dtype = getattr(unet, "dtype", torch.float32)
    made: dict = {}

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        key = (x.device, x.shape)
        if key not in made:
            sk = phi_like(x[:, :1]) if sketch is None else sketch.to(x)
            st = phi_like(x) if stroke is None else stroke.to(x)
            s_sk = 0.0 if sketch is None else sketch_scale
            s_st = 0.0 if stroke is None else stroke_scale
            made[key] = student_input(torch.zeros_like(x), sk, st, s_sk, s_st, steps).to(dtype)
        inputs = made[key]
        inputs[:, :3] = x
        ts = t.reshape(-1).expand(x.shape[0]) if t.numel() > 1 else t.reshape(1).expand(x.shape[0])  # (B,)
        v = unet(inputs, ts).sample.float()
        alpha, sigma = alpha_sigma(alphas_cumprod, ts)
        return eps_from_v(x, v, alpha, sigma)

    return denoiser


def scales_within(scale, top: float) -> bool:
    """Whether a guidance scale (a number, (B,) or a map) lies in the range the student was distilled over."""
    s = torch.as_tensor(scale, dtype=torch.float32)
    return bool(((s >= 0) & (s <= top)).all())


def choose_student(record: dict | None, asked: bool | None, steps: int | None, scales, window, sampler
                   ) -> tuple[bool, str | None]:  # fmt: skip
    """Whether a call runs the student, and why not in one line where it was asked for and cannot: (use it, note).

    ``record`` is the folder's diss.json "student" (None: it has none); ``asked`` True (fast), False (the teacher) or
    None (the folder's choice: its record's "default", set where the student met the teacher's quality);
    ``steps`` the steps asked for (None: the student's default); ``scales`` the two guidance scales; ``window`` the
    guidance interval asked for; ``sampler`` a sampler asked for by name (None: the folder's). The student folds in
    the defaults' guidance interval and DDIM: a call asking for another, for scales beyond those it was distilled
    over, or for a step count it was not trained for, runs on the teacher (said in the note)."""
    if asked is False or (asked is None and not (record or {}).get("default", False)):
        return False, None
    if record is None:
        raise DissError("this model folder has no distilled student (fast mode): run without it, or distil one with "
                        "`diss train --task student --teacher MODEL`")  # fmt: skip
    top = float(record.get("scale_max", defaults.STUDENT_SCALE_MAX))
    counts = tuple(record.get("steps", defaults.STUDENT_STEP_COUNTS))
    why = None
    if steps is not None and steps not in counts:
        why = f"the student takes {', '.join(map(str, counts))} steps, not {steps}"
    elif not all(scales_within(s, top) for s in scales):
        why = f"the student was distilled for guidance scales 0 to {top:g}"
    elif tuple(window) != (defaults.GUIDANCE_START, defaults.GUIDANCE_END):
        why = "the student folds in the default guidance interval"
    elif sampler not in (None, "ddim"):
        why = f"the student steps with DDIM, not {sampler}"
    if why is None:
        return True, None
    return False, f"{why}: the teacher runs this call"
