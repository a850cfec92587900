"""Two-dimensional classifier-free guidance (DiSS eq. 7) as a closure around the U-Net: one batched forward."""

from __future__ import annotations

import torch

from diss.conventions import phi_like
from diss.model import model_input
from diss.sampling import Denoiser

Scale = float | torch.Tensor  # a number, one per sample (B,), or a spatial map (B, 1, H, W)


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


def two_condition_guidance(
    unet,
    sketch: torch.Tensor | None,
    stroke: torch.Tensor | None,
    sketch_scale: Scale = 1.0,
    stroke_scale: Scale = 1.0,
) -> Denoiser:
    """ε = ε(Φ,Φ) + s_sk·(ε(sk,Φ) − ε(Φ,Φ)) + s_st·(ε(Φ,st) − ε(Φ,Φ)), the needed branches in one forward.

    ``sketch`` (B, 1, H, W) and ``stroke`` (B, 3, H, W) are in model range; None means the condition is absent (Φ).
    With a learned variance, the variance channels are taken from the unconditional branch.
    """
    use_sketch = _active(sketch_scale, sketch)
    use_stroke = _active(stroke_scale, stroke)
    dtype = getattr(unet, "dtype", torch.float32)  # bf16 weights take bf16 inputs (no autocast then)

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        phi_sk = phi_like(x[:, :1])  # (B, 1, H, W)
        phi_st = phi_like(x)  # (B, 3, H, W)
        sketches, strokes = [phi_sk], [phi_st]  # branch 0: ε(Φ, Φ)
        if use_sketch:
            sketches.append(sketch.to(x))
            strokes.append(phi_st)  # ε(sk, Φ)
        if use_stroke:
            sketches.append(phi_sk)
            strokes.append(stroke.to(x))  # ε(Φ, st)
        n = len(sketches)
        xs = x.repeat(n, 1, 1, 1)  # (n·B, 3, H, W)
        ts = (t.reshape(-1).expand(b) if t.numel() == 1 else t).repeat(n)  # (n·B,)
        out = unet(model_input(xs, torch.cat(sketches), torch.cat(strokes)).to(dtype), ts).sample.float()
        parts = out.split(b)  # n × (B, C, H, W)
        uncond = parts[0]
        eps = uncond[:, :3]
        k = 1
        if use_sketch:
            eps = eps + _broadcast(sketch_scale, eps) * (parts[k][:, :3] - uncond[:, :3])
            k += 1
        if use_stroke:
            eps = eps + _broadcast(stroke_scale, eps) * (parts[k][:, :3] - uncond[:, :3])
        return torch.cat([eps, uncond[:, 3:]], dim=1)

    return denoiser
