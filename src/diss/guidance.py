"""Two-dimensional classifier-free guidance (DiSS eq. 7) as a closure around the U-Net: one batched forward."""

from __future__ import annotations

from collections.abc import Callable

import torch

from diss.model import model_input
from diss.phi import phi_like
from diss.sampling import Denoiser

Scale = float | torch.Tensor  # a number, one per sample (B,), or a spatial map (B, 1, H, W)
Guided = Callable[[torch.Tensor], bool]  # t → whether this step is guided (the guidance interval)


def _active(scale: Scale, condition: torch.Tensor | None) -> bool:
    """A branch is evaluated only when its condition is given and its scale is not zero everywhere."""
    if condition is None:
        return False
    return bool(torch.as_tensor(scale).ne(0).any())


def _broadcast(scale: Scale, like: torch.Tensor) -> torch.Tensor | float:
    if not isinstance(scale, torch.Tensor):
        return float(scale)
    s = scale.to(like.device, like.dtype)
    return s.reshape(-1, 1, 1, 1) if s.ndim == 1 else s  # (B,) → (B, 1, 1, 1); maps are (B, 1, H, W) already


def guidance_interval(timesteps, start: float = 0.0, end: float = 1.0) -> Guided | None:
    """Step i of n is guided where start ≤ i/n and (i+1)/n ≤ end (diffusers' ``control_guidance_start``/``_end``);
    None when every step is. Reading t costs a host read per step on a GPU."""
    n = len(timesteps)
    on = {int(t) for i, t in enumerate(timesteps) if start <= i / n and (i + 1) / n <= end}
    if len(on) == n:
        return None
    return lambda t: int(t.reshape(-1)[0]) in on


def two_condition_guidance(
    unet,
    sketch: torch.Tensor | None,
    stroke: torch.Tensor | None,
    sketch_scale: Scale = 1.0,
    stroke_scale: Scale = 1.0,
    guided: Guided | None = None,
) -> Denoiser:
    """ε = ε(Φ,Φ) + s_sk·(ε(sk,Φ) − ε(Φ,Φ)) + s_st·(ε(Φ,st) − ε(Φ,Φ)), the needed branches in one forward.

    ``sketch`` (B, 1, H, W) and ``stroke`` (B, 3, H, W) are in model range; None means the condition is absent (Φ).
    With a learned variance, the variance channels are taken from the unconditional branch. Where ``guided(t)`` is
    false (outside the guidance interval) one forward of the model's own conditional ε(c_sk, c_st) replaces the sum
    (variance included), each condition given where its scale is not zero (per sample), Φ elsewhere: a third of the
    work.
    """
    use_sketch = _active(sketch_scale, sketch)
    use_stroke = _active(stroke_scale, stroke)
    dtype = getattr(unet, "dtype", torch.float32)  # bf16 weights take bf16 inputs (no autocast then)
    made: dict = {}  # per (device, B): the U-Net's input buffer with the conditions filled in, and the scales
    joint: dict = {}  # per (device, B): the input of the one-branch (unguided) step

    def constants(x: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Built at the first step and reused: the steps only copy x_t into the buffer (no per-step allocations)."""
        key = (x.device, x.shape)
        if key not in made:
            phi_sk, phi_st = phi_like(x[:, :1]), phi_like(x)  # (B, 1, H, W), (B, 3, H, W)
            branches, scales = [(phi_sk, phi_st)], []  # branch 0: ε(Φ, Φ)
            if use_sketch:
                branches.append((sketch.to(x), phi_st))  # ε(sk, Φ)
                scales.append(_broadcast(sketch_scale, x))
            if use_stroke:
                branches.append((phi_sk, stroke.to(x)))  # ε(Φ, st)
                scales.append(_broadcast(stroke_scale, x))
            conditions = [model_input(torch.zeros_like(x), sk, st) for sk, st in branches]  # n × (B, 7, H, W)
            made[key] = (torch.cat(conditions).to(dtype), scales)  # (n·B, 7, H, W); channels 0–2 take x_t
        return made[key]

    def given(condition: torch.Tensor | None, scale: Scale, active: bool, phi: torch.Tensor) -> torch.Tensor:
        """The condition for the samples whose scale is not zero somewhere, Φ for the others."""
        if not active:
            return phi
        s = torch.as_tensor(scale, device=phi.device)
        keep = s.reshape(-1, 1, 1, 1) if s.ndim <= 1 else s.flatten(1).ne(0).any(1).reshape(-1, 1, 1, 1)  # (B|1,…)
        return torch.where(keep.ne(0), condition.to(phi), phi)

    def conditional(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        key = (x.device, x.shape)
        if key not in joint:
            phi_sk, phi_st = phi_like(x[:, :1]), phi_like(x)
            sk = given(sketch, sketch_scale, use_sketch, phi_sk)  # (B, 1, H, W)
            st = given(stroke, stroke_scale, use_stroke, phi_st)  # (B, 3, H, W)
            joint[key] = model_input(torch.zeros_like(x), sk, st).to(dtype)  # (B, 7, H, W)
        inputs = joint[key]
        inputs[:, :3] = x
        ts = t.reshape(-1).expand(x.shape[0]) if t.numel() > 1 else t.reshape(1).expand(x.shape[0])  # (B,)
        return unet(inputs, ts).sample.float()

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if guided is not None and not guided(t):
            return conditional(x, t)
        b = x.shape[0]
        inputs, scales = constants(x)
        n = inputs.shape[0] // b
        inputs.view(n, b, *inputs.shape[1:])[:, :, :3] = x  # x_t into every branch, (n, B, 3, H, W)
        ts = t.reshape(-1).expand(b).repeat(n) if t.numel() > 1 else t.reshape(1).expand(n * b)  # (n·B,)
        out = unet(inputs, ts).sample.float()
        parts = out.split(b)  # n × (B, C, H, W)
        uncond = parts[0]
        eps = uncond[:, :3]
        for scale, part in zip(scales, parts[1:], strict=True):
            eps = eps + scale * (part[:, :3] - uncond[:, :3])
        return torch.cat([eps, uncond[:, 3:]], dim=1)

    return denoiser
