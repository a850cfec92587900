"""The step loop over a diffusers scheduler, with per-step hooks (k-diffusion style: a sampler is a plain function).

A *denoiser* is any callable ``(x_t (B, 3, S, S), t) -> model output (B, 3 or 6, S, S)``: the U-Net with its
conditions bound, or a guidance closure around it. A *hook* is a callable ``(x_prev, t_prev, step_index) -> x_prev``
applied after every step (realism, editing); ``t_prev`` (an int) is the timestep of ``x_prev``, −1 after the last step.

The loop never waits on the device: the schedule stays on the host (the scheduler reads its coefficients there, the
hooks get plain ints), the denoiser reads t from one device copy of it, and noise is drawn on the host and sent without
a wait (``sample_noise``), so a GPU is handed every step's work ahead. DDPM draws its noise inside diffusers, with one
blocking copy per step on a GPU; DDIM, DPM-Solver++ and its SDE variant have none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from diffusers import DPMSolverMultistepScheduler
from tqdm.auto import tqdm

from diss.diffusion import sample_noise

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Hook = Callable[[torch.Tensor, int, int], torch.Tensor]


def uses_learned_variance(scheduler) -> bool:
    return getattr(scheduler.config, "variance_type", None) in ("learned", "learned_range")


def sample(
    denoiser: Denoiser,
    scheduler,
    noise: torch.Tensor,
    num_inference_steps: int,
    generator: torch.Generator | list[torch.Generator] | None = None,
    hooks: Sequence[Hook] = (),
    progress: bool = False,
    init: torch.Tensor | None = None,
    strength: float = 1.0,
) -> torch.Tensor:
    """Run the reverse process from ``noise`` (B, 3, S, S) and return x₀ (B, 3, S, S) in [-1, 1].

    With ``init`` (SDEdit): start from ``init`` noised to the ``strength`` share of the schedule, and run only the
    remaining steps.
    """
    scheduler.set_timesteps(num_inference_steps)  # on the host: reading it never waits on the device
    timesteps = scheduler.timesteps
    learned = uses_learned_variance(scheduler)
    sde = isinstance(scheduler, DPMSolverMultistepScheduler) and scheduler.config.algorithm_type.startswith("sde-")
    if init is not None:
        skip = min(int(round(len(timesteps) * (1.0 - strength))), len(timesteps) - 1)
        timesteps = timesteps[skip:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(skip)
        x = scheduler.add_noise(init, noise, timesteps[:1].repeat(init.shape[0]))  # x_{t0} = q(init, t0)
    else:
        x = noise * scheduler.init_noise_sigma  # x_T
    t_device = timesteps.to(noise.device)  # (steps,): one copy, the denoiser's t are views of it
    t_host = timesteps.tolist()  # ints, for the hooks
    for i, t in enumerate(tqdm(timesteps, desc="sampling", disable=not progress, leave=False)):
        out = denoiser(scheduler.scale_model_input(x, t), t_device[i])  # ε (and v) at x_t
        if not learned:
            out = out[:, :3]  # a learned variance is used only by schedulers that read it
        if sde:  # it takes its noise as variance_noise: the numbers diffusers would draw, sent without a wait
            x = scheduler.step(out, t, x, variance_noise=sample_noise(x, generator)).prev_sample  # x_{t-1}
        else:
            x = scheduler.step(out, t, x, generator=generator).prev_sample  # x_{t-1}
        t_prev = t_host[i + 1] if i + 1 < len(t_host) else -1  # −1: the clean image
        for hook in hooks:
            x = hook(x, t_prev, i)  # e.g. realism: swap low frequencies with the reference noised to t-1
    return x.clamp(-1.0, 1.0)
