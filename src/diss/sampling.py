"""The step loop over a diffusers scheduler, with per-step hooks (k-diffusion style: a sampler is a plain function).

A *denoiser* is any callable ``(x_t (B, 3, S, S), t) -> model output (B, 3 or 6, S, S)``: the U-Net with its
conditions bound, or a guidance closure around it; realism and local editing act inside it, on x̂₀, so every
scheduler — a multistep solver too — steps from a consistent history. A *hook* is a callable
``(x_prev, t_prev, step_index) -> x_prev`` applied after every step (the paper's x_t-space realism, the final
composite of an edit); ``t_prev`` (an int) is the timestep of ``x_prev``, −1 after the last step.

The loop never waits on the device: the schedule stays on the host (the scheduler reads its coefficients there, the
hooks get plain ints), the denoiser reads t from one device copy of it, and DPM-Solver++ SDE's noise is sent without a
wait (``schedulers.step_noise``), so a GPU is handed every step's work ahead. DDPM draws its noise inside diffusers,
with one blocking copy per step on a GPU. Noise comes from ``generator`` (one per sample for a list).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence

import torch

from diss.schedulers import step_noise

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Hook = Callable[[torch.Tensor, int, int], torch.Tensor]


def uses_learned_variance(scheduler) -> bool:
    """Whether ``scheduler`` reads a learned variance (DDPM, DPM-Solver): it takes a ``variance_type`` and it is
    learned. Others (DDIM) get ε alone, even where their config carries the key over from the training scheduler."""
    reads = "variance_type" in inspect.signature(type(scheduler).__init__).parameters
    return reads and scheduler.config.get("variance_type") in ("learned", "learned_range")


def edit_x0(denoiser: Denoiser, scheduler, edit: Callable[[torch.Tensor], torch.Tensor]) -> Denoiser:
    """A denoiser whose prediction of x₀ is ``edit(x̂₀)`` (B, 3, S, S) → (B, 3, S, S): x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t
    (DDPM eq. 15), then ε ← (x_t − √ᾱ_t·edit(x̂₀))/√(1−ᾱ_t). Every scheduler steps from ε, so the edit reaches a
    multistep solver's history too, and x_t stays at the noise level the scheduler expects."""
    alphas = {}  # ᾱ per device, copied once

    def edited(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = denoiser(x, t)
        if x.device not in alphas:
            alphas[x.device] = scheduler.alphas_cumprod.to(x.device, torch.float32)
        a = alphas[x.device].index_select(0, t.reshape(-1).long()).reshape(-1, 1, 1, 1)  # a gather: no host read
        x0 = edit((x - (1 - a).sqrt() * out[:, :3]) / a.sqrt())
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt().clamp(min=1e-8)
        return torch.cat([eps, out[:, 3:]], dim=1)

    return edited


def sample(
    denoiser: Denoiser,
    scheduler,
    noise: torch.Tensor,
    num_inference_steps: int,
    generator: torch.Generator | list[torch.Generator] | None = None,
    hooks: Sequence[Hook] = (),
    progress_bar: Callable[[Iterable], Iterable] | None = None,
    init: torch.Tensor | None = None,
    strength: float = 1.0,
    on_step_end: Callable[[int, int, torch.Tensor], torch.Tensor] | None = None,
    interrupted: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """Run the reverse process from ``noise`` (B, 3, S, S) and return x₀ (B, 3, S, S) in [-1, 1].

    With ``init`` (SDEdit): start from ``init`` noised to the ``strength`` share of the schedule, and run only the
    remaining steps. ``on_step_end(i, t, x)`` may replace x after step i (of timestep t); once ``interrupted()`` is
    true the loop stops and x is returned as it is.
    """
    scheduler.set_timesteps(num_inference_steps)  # on the host: reading it never waits on the device
    timesteps = scheduler.timesteps
    learned = uses_learned_variance(scheduler)
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
    for i, t in enumerate(progress_bar(t_host) if progress_bar is not None else t_host):
        if interrupted is not None and interrupted():
            break
        out = denoiser(scheduler.scale_model_input(x, t), t_device[i])  # ε (and v) at x_t
        if not learned:
            out = out[:, :3]  # a learned variance is used only by schedulers that read it
        x = scheduler.step(out, t, x, **step_noise(scheduler, x, generator)).prev_sample  # x_{t-1}
        t_prev = t_host[i + 1] if i + 1 < len(t_host) else -1  # −1: the clean image
        for hook in hooks:
            x = hook(x, t_prev, i)  # e.g. the paper's realism: swap low frequencies with the reference noised to t-1
        if on_step_end is not None:
            x = on_step_end(i, t, x)
    return x.clamp(-1.0, 1.0)


def step_callback(pipe, callback, names):
    """diffusers' ``callback_on_step_end(pipe, i, t, {name: tensor})`` as the loop's ``on_step_end(i, t, x)``."""
    if callback is None:
        return None

    def on_step_end(i, t, x):
        state = {"latents": x}
        out = callback(pipe, i, torch.tensor(t), {k: state[k] for k in names})
        return out.get("latents", x) if isinstance(out, dict) else x

    return on_step_end
