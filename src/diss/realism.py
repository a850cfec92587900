"""The realism dial: ILVR-style low-frequency replacement after every step (DiSS eq. 8–9).

x_{t−1} ← x̃_{t−1} − LP_N(x̃_{t−1}) + LP_N(q(c_comb, t−1)), where LP_N shrinks to N×N and enlarges back, c_comb is the
strokes with the sketch drawn over them, and the reference is noised to t−1 — the step being produced — with fresh
noise per sample (the original code noised it to t, and mixed the samples of a batch).

The side N comes from the realism s ∈ [0, 1] and the image side m: N = −s·(m/8 − 1) + m/8 + k (DiSS eq. 9), rounded
and kept in [1, m]. s = 0 keeps the most of the reference (N = m/8 + k: 8×8 at 64 px with k = 0), s = 1 the least
(N = 1 + k: only the mean colour when k = 0). ``k`` shifts the whole range towards the reference.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F

from diss.diffusion import q_sample_at, sample_noise
from diss.errors import DissError


def lowpass_side(realism: float, image_side: int, k: int = 0) -> int:
    """N of DiSS eq. 9: the side of the low-pass image for realism ``realism`` at image side ``image_side``."""
    if not 0.0 <= float(realism) <= 1.0:
        raise DissError(f"realism must lie in [0, 1], not {realism}")
    m8 = image_side / 8.0
    n = -float(realism) * (m8 - 1.0) + m8 + k
    return int(min(max(round(n), 1), image_side))


@functools.lru_cache(maxsize=64)
def lowpass_matrix(m: int, n: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32):
    """L (m, m) of one axis of LP_N: shrink m → N (bicubic, antialiased) and enlarge N → m (bicubic), as ILVR's resizer.

    Both resizes are separable and linear, so LP_N(x) = L_H · x · L_Wᵀ per channel: two small matrix products, cached
    per (m, N, device, dtype), that run alike on every device (CUDA's antialiased kernel refuses large shrinks such as
    64 → 1)."""
    # the unit vectors e_i as m images constant along a width of 4 (the resizers treat a width of 1 as a special case)
    basis = torch.eye(m, dtype=torch.float64)[:, None, :, None].expand(m, 1, m, 4)  # (m, 1, m, 4)
    small = F.interpolate(basis, size=(n, 4), mode="bicubic", antialias=True, align_corners=False)  # (m, 1, N, 4)
    back = F.interpolate(small, size=(m, 4), mode="bicubic", align_corners=False)  # (m, 1, m, 4): LP of each e_i
    return back[:, 0, :, 0].T.contiguous().to(device, dtype)  # (m, m): column i = LP(e_i)


def lowpass(x: torch.Tensor, n: int) -> torch.Tensor:
    """LP_N: shrink (B, C, H, W) to N×N with antialiasing, enlarge back to H×W (bicubic, as ILVR's resizer), in fp32."""
    h, w = x.shape[-2:]
    if n >= min(h, w):
        return x
    kind = x.device.type
    off = torch.autocast(kind, enabled=False) if torch.amp.is_autocast_available(kind) else contextlib.nullcontext()
    with off:  # the sampler's arithmetic stays fp32 inside autocast too
        xf = x.float()
        out = lowpass_matrix(h, n, xf.device) @ xf @ lowpass_matrix(w, n, xf.device).T  # (B, C, H, W)
    return out.to(x.dtype)


def combined_reference(sketch: torch.Tensor | None, stroke: torch.Tensor | None) -> torch.Tensor:
    """c_comb: the strokes (B, 3, H, W) with the sketch's dark lines drawn over them, in model range."""
    if stroke is None and sketch is None:
        raise DissError("realism needs a sketch or strokes to take the low frequencies from")
    if stroke is None:
        return sketch.expand(-1, 3, -1, -1)
    if sketch is None:
        return stroke
    return torch.minimum(stroke, sketch.expand(-1, 3, -1, -1))  # ink (−1) darkens, paper (+1) leaves paint as is


def lowpass_hook(reference: torch.Tensor, scheduler, n: int, generator: torch.Generator | list | None = None):
    """A sampler hook applying eq. 8 with the reference noised to ``t_prev`` (clean when ``t_prev`` < 0)."""
    lp_ref_cache: dict[int, torch.Tensor] = {}
    alphas = scheduler.alphas_cumprod.cpu()  # ᾱ on the host, taken once

    def hook(x: torch.Tensor, t_prev: int, i: int) -> torch.Tensor:
        if t_prev < 0:
            if -1 not in lp_ref_cache:
                lp_ref_cache[-1] = lowpass(reference.to(x), n)
            target = lp_ref_cache[-1]
        else:
            target = lowpass(q_sample_at(alphas, reference.to(x), sample_noise(x, generator), t_prev), n)
        return x - lowpass(x, n) + target

    return hook


def x0_lowpass_denoiser(denoiser, reference: torch.Tensor, scheduler, n: int):
    """Manifold-consistent realism: replace the low frequencies of the predicted x̂₀ (not of x_t) inside the denoiser.

    x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t; x̂₀ ← x̂₀ − LP_N(x̂₀) + LP_N(c_comb); ε ← (x_t − √ᾱ_t·x̂₀)/√(1−ᾱ_t). Every sampler
    consumes ε, so this works with all of them, and x_t stays on the noise level the sampler expects.
    """
    alphas = {}  # ᾱ per device, copied once

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = denoiser(x, t)
        if x.device not in alphas:
            alphas[x.device] = scheduler.alphas_cumprod.to(x.device, torch.float32)
        a = alphas[x.device].index_select(0, t.reshape(-1).long()).reshape(-1, 1, 1, 1)  # a gather: no host read
        eps = out[:, :3]
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x0 = x0 - lowpass(x0, n) + lowpass(reference.to(x0), n)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt().clamp(min=1e-8)
        return torch.cat([eps, out[:, 3:]], dim=1)

    return guided
