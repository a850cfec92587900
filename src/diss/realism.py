"""The realism dial: ILVR-style low-frequency replacement after every step (DiSS eq. 8–9), from the painted pixels only.

The paper's eq. 8, x_{t−1} ← x̃_{t−1} − LP_N(x̃_{t−1}) + LP_N(q(c_comb, t−1)), where LP_N shrinks to N×N and enlarges
back and c_comb is the strokes with the sketch drawn over them, treats the white of a stroke canvas as white paint: at
realism 1 (N = 1: the mean colour) strokes with gaps, partial strokes and local edits wash out towards white. Here the
low frequencies are measured on the painted pixels only (p = 1 where a stroke pixel is not near-white, conventions'
"white means no stroke here"), with a normalised low-pass, and blended in by the local paint coverage c:

    LP^p_N(y) = LP⁺_N(p·y) / LP⁺_N(p)                     the low frequencies of y's painted pixels only
    c = LP⁺_{N_c}(p) ∈ [0, 1],  N_c = max(N, m/8)          the local paint coverage, at the paper's finest scale
    x_{t−1} ← x̃_{t−1} − c·LP^p_N(x̃_{t−1}) + c·LP^p_N(q(c_comb, t−1))

so painted regions take the reference's low frequencies (of its paint, not of the white around it) and unpainted ones
keep the sample's own; c is local at every N (at N = 1, LP_N is the mean of the whole canvas). LP⁺_N is LP_N with its
negative lobes cut (each axis' weights clipped at 0 and scaled back to sum 1): LP_N's ringing can make LP_N(p) vanish
or turn negative near the edge of the paint, and the quotient explode; with LP⁺_N it is a weighted mean of painted
values. At N = 1 (realism 1, the default) LP⁺_N is LP_N. A sample whose strokes cover the whole canvas (p ≡ 1) and has
no sketch gets eq. 8 itself, bit for bit. The reference is noised to t−1 — the step being produced — with fresh noise
per sample (the original code noised it to t, and mixed the samples of a batch).

Where a sketch is given, its lines are left out of the weights too (p·(1 − lines) in LP^p_N, c still the paint's):
drawn over the strokes in c_comb they darken the paint's low frequencies, a third of the daisy's petal pixels at 64
px, whose cream came out grey-mauve; between the lines the paint's own colour is kept (on the drawing benchmark,
realism 0: stroke ΔE 18.5 → 9.5, the daisy's petals L* 62 → 81; BENCHMARKS.md), and the lines are the sketch
guidance's to draw.

Where: ``x0_lowpass_denoiser`` (the default, ``realism_mode="x0"``) applies the replacement to the predicted x̂₀
inside the denoiser with the clean reference, so every scheduler steps from a consistent history; ``lowpass_hook``
("lowpass") is eq. 8 as the paper has it, on x_t after each step. At the defaults the two score alike (FID 88.45 vs
89.16, N = 249), and strokes on half the canvas leave the free half 6.2 vs 14.7 ΔE from realism off (BENCHMARKS.md;
both measured while the lines still counted as paint).

The side N comes from the realism s ∈ [0, 1] and the image side m: N = −s·(N₀ − 1) + N₀ + k (DiSS eq. 9), rounded and
kept in [1, m]. s = 0 keeps the most of the reference (N = N₀ + k), s = 1 the least (N = 1 + k: only the mean colour
when k = 0); ``k`` shifts the whole range towards the reference. The paper's top is N₀ = m/8, 32 at its 256 px; at
the sides below, N₀ stays 32 as far as half the side allows (``realism_top``): at 64 px eq. 9 spans only 8 → 1, and
realism 0 then re-renders a drawing with the model's texture instead of keeping its look. On the drawing benchmark
(shipped model, 64 px, BENCHMARKS.md) N = 32 / 16 / 8 / 1 give KID 0.143 / 0.129 / 0.109 / 0.104 and stroke ΔE 6.5 /
7.0 / 9.5 / 13.3: the dial's painting end is at 32, not 8.
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F

from diss.conventions import LINE_MAX, NO_STROKE_MIN
from diss.diffusion import q_sample_at
from diss.errors import DissError
from diss.runtime import sample_noise
from diss.sampling import edit_x0

#: LP⁺_N(p) is kept at least this in LP^p_N's denominator; below it LP⁺_N(p·y) is smaller still, so the quotient stays
#: within the painted values of y (and far from any paint both are 0: the sample keeps its own low frequencies there)
MIN_PAINT_DENSITY = 1e-3
#: the low-pass side at realism 0 at the paper's 256 px (m/8), kept at smaller sides as far as m/2 allows
REALISM_TOP = 32


def realism_top(image_side: int) -> float:
    """N₀, the low-pass side at realism 0: the paper's m/8, but at least 32 (its value at 256 px) up to m/2."""
    return max(image_side / 8.0, min(REALISM_TOP, image_side / 2.0))


def lowpass_side(realism: float, image_side: int, k: int = 0) -> int:
    """N of DiSS eq. 9, N = −s·(N₀ − 1) + N₀ + k: the side of the low-pass image for ``realism`` at ``image_side``."""
    if not 0.0 <= float(realism) <= 1.0:
        raise DissError(f"realism must lie in [0, 1], not {realism}")
    top = realism_top(image_side)
    n = -float(realism) * (top - 1.0) + top + k
    return int(min(max(round(n), 1), image_side))


@functools.lru_cache(maxsize=64)
def lowpass_matrix(
    m: int, n: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32, positive: bool = False
):
    """L (m, m) of one axis of LP_N: shrink m → N (bicubic, antialiased) and enlarge N → m (bicubic), as ILVR's resizer.

    Both resizes are separable and linear, so LP_N(x) = L_H · x · L_Wᵀ per channel: two small matrix products, cached
    per (m, N, device, dtype), that run alike on every device (CUDA's antialiased kernel refuses large shrinks such as
    64 → 1). ``positive``: L⁺ = E⁺·S⁺, the shrink S (N, m) and the enlargement E (m, N) each with its negative lobes
    cut and its rows scaled back to sum 1: a local weighted mean (±2·m/N pixels; at N = 1 it is L)."""

    def unit_images(k: int) -> torch.Tensor:
        """The unit vectors e_i as k images constant along a width of 4 (the resizers treat a width of 1 apart)."""
        return torch.eye(k, dtype=torch.float64)[:, None, :, None].expand(k, 1, k, 4)  # (k, 1, k, 4)

    small = F.interpolate(unit_images(m), size=(n, 4), mode="bicubic", antialias=True, align_corners=False)  # (m,1,N,4)
    if not positive:
        back = F.interpolate(small, size=(m, 4), mode="bicubic", align_corners=False)  # (m, 1, m, 4): LP of each e_i
        return back[:, 0, :, 0].T.contiguous().to(device, dtype)  # (m, m): column i = LP(e_i)

    def cut(weights: torch.Tensor) -> torch.Tensor:  # rows are weights over the inputs
        weights = weights.clamp(min=0.0)
        return weights / weights.sum(dim=1, keepdim=True)

    shrink = cut(small[:, 0, :, 0].T)  # (N, m)
    enlarge = cut(F.interpolate(unit_images(n), size=(m, 4), mode="bicubic", align_corners=False)[:, 0, :, 0].T)
    return (enlarge @ shrink).contiguous().to(device, dtype)  # (m, N) @ (N, m)


def lowpass(x: torch.Tensor, n: int, positive: bool = False) -> torch.Tensor:
    """LP_N: shrink (B, C, H, W) to N×N with antialiasing, enlarge back to H×W (bicubic, as ILVR's resizer), in fp32
    (fp64 when given fp64). ``positive``: LP⁺_N, its weighted-mean variant (``lowpass_matrix``)."""
    h, w = x.shape[-2:]
    if n >= min(h, w):
        return x
    kind = x.device.type
    off = torch.autocast(kind, enabled=False) if torch.amp.is_autocast_available(kind) else contextlib.nullcontext()
    with off:  # the sampler's arithmetic stays fp32 inside autocast too
        xf = x if x.dtype == torch.float64 else x.float()
        lh = lowpass_matrix(h, n, xf.device, xf.dtype, positive)  # (H, H)
        lw = lowpass_matrix(w, n, xf.device, xf.dtype, positive)  # (W, W)
        out = lh @ xf @ lw.T  # (B, C, H, W)
    return out.to(x.dtype)


def paint_mask(stroke: torch.Tensor) -> torch.Tensor:
    """conventions.stroke_mask for tensors: strokes (B, 3, H, W) in model range → p (B, 1, H, W), 1.0 where paint is.

    A pixel is unpainted when all its channels are ≥ NO_STROKE_MIN in uint8 terms; the threshold sits half a grey level
    below it, so that a uint8 stroke image gives the same mask here as ``stroke_mask`` gives it (no fp32 rounding at the
    edge)."""
    threshold = (NO_STROKE_MIN - 0.5) / 127.5 - 1.0
    return (stroke.amin(dim=1, keepdim=True) < threshold).float()


def line_mask(sketch: torch.Tensor) -> torch.Tensor:
    """The sketch's lines (B, 1, H, W) in model range → 1.0 on every pixel a line darkens below ``conventions.LINE_MAX``
    (the threshold half a grey level below it, as ``paint_mask``'s: no fp32 rounding at the edge)."""
    return (sketch < (LINE_MAX - 0.5) / 127.5 - 1.0).float()


class PaintWeights(NamedTuple):
    """What the painted low-pass needs of the paint mask p, computed once per sampling run."""

    mask: torch.Tensor  # w (B, 1, H, W) in {0, 1}: p, less the sketch's lines where they are given
    full: torch.Tensor  # (B, 1, 1, 1) bool: painted everywhere and no lines, so eq. 8 itself applies
    density: torch.Tensor  # LP⁺_N(w) (B, 1, H, W), at least MIN_PAINT_DENSITY
    coverage: torch.Tensor  # c = LP⁺_{N_c}(p) (B, 1, H, W) in [0, 1]; exactly 1 for a sample painted everywhere


def paint_weights(paint: torch.Tensor, n: int, lines: torch.Tensor | None = None) -> PaintWeights:
    """p (B, 1, H, W) and the sketch's line mask (or None) → the weights, density and coverage of the module docstring.
    Device ops only: nothing is read back."""
    p = paint.float()
    w = p if lines is None else p * (1.0 - lines.float())  # the paint between the lines
    full = w.amin(dim=(1, 2, 3), keepdim=True) >= 1.0  # (B, 1, 1, 1)
    n_c = max(n, round(min(p.shape[-2:]) / 8))  # the paper's finest side, m/8: c stays local even at N = 1
    density = lowpass(w, n, positive=True).clamp(min=MIN_PAINT_DENSITY)
    coverage = torch.where(full, torch.ones_like(p), lowpass(p, n_c, positive=True).clamp(0.0, 1.0))
    return PaintWeights(w, full, density, coverage)


def painted_lowpass(y: torch.Tensor, weights: PaintWeights | None, n: int) -> torch.Tensor:
    """LP^p_N(y) = LP⁺_N(p·y) / LP⁺_N(p): the low frequencies of the painted pixels of y (B, C, H, W) only; LP_N(y) for
    a sample painted everywhere (and for all when ``weights`` is None)."""
    plain = lowpass(y, n)
    if weights is None:
        return plain
    painted = lowpass(weights.mask.to(y) * y, n, positive=True) / weights.density.to(y)
    return torch.where(weights.full.to(y.device), plain, painted)


def replace_low_frequencies(x: torch.Tensor, target: torch.Tensor, weights: PaintWeights | None, n: int):
    """x − c·LP^p_N(x) + c·target, ``target`` = LP^p_N(reference): the painted eq. 8 of the module docstring; for a
    sample painted everywhere (c = 1) eq. 8 itself, x − LP_N(x) + LP_N(reference), bit for bit."""
    if weights is None:
        return x - lowpass(x, n) + target
    c = weights.coverage.to(x)
    return x - c * painted_lowpass(x, weights, n) + c * target


def combined_reference(sketch: torch.Tensor | None, stroke: torch.Tensor | None) -> torch.Tensor:
    """c_comb: the strokes (B, 3, H, W) with the sketch's dark lines drawn over them, in model range."""
    if stroke is None and sketch is None:
        raise DissError("realism needs a sketch or strokes to take the low frequencies from")
    if stroke is None:
        return sketch.expand(-1, 3, -1, -1)
    if sketch is None:
        return stroke
    return torch.minimum(stroke, sketch.expand(-1, 3, -1, -1))  # ink (−1) darkens, paper (+1) leaves paint as is


def _weights(reference: torch.Tensor, paint: torch.Tensor | None, n: int, lines: torch.Tensor | None):
    if paint is None:  # p ≡ 1: eq. 8 as it is
        return None
    return paint_weights(paint.to(reference.device), n, None if lines is None else lines.to(reference.device))


def lowpass_hook(
    reference: torch.Tensor,
    scheduler,
    n: int,
    generator: torch.Generator | list | None = None,
    paint: torch.Tensor | None = None,
    lines: torch.Tensor | None = None,
):
    """A sampler hook applying the painted eq. 8 (module docstring) with the reference (B, 3, H, W) noised to
    ``t_prev`` (clean when ``t_prev`` < 0); ``paint`` (B, 1, H, W) is p (``paint_mask`` of the strokes), None: p ≡ 1;
    ``lines`` (B, 1, H, W) the sketch's ``line_mask``, left out of the low frequencies (None: none)."""
    weights = _weights(reference, paint, n, lines)
    lp_ref_cache: dict[int, torch.Tensor] = {}
    alphas = scheduler.alphas_cumprod.cpu()  # ᾱ on the host, taken once

    def hook(x: torch.Tensor, t_prev: int, i: int) -> torch.Tensor:
        if t_prev < 0:
            if -1 not in lp_ref_cache:
                lp_ref_cache[-1] = painted_lowpass(reference.to(x), weights, n)
            target = lp_ref_cache[-1]
        else:
            noised = q_sample_at(alphas, reference.to(x), sample_noise(x, generator), t_prev)  # q(c_comb, t−1)
            target = painted_lowpass(noised, weights, n)
        return replace_low_frequencies(x, target, weights, n)

    return hook


def x0_lowpass_denoiser(
    denoiser, reference: torch.Tensor, scheduler, n: int, paint: torch.Tensor | None = None, lines=None
):
    """Manifold-consistent realism: replace the low frequencies of the predicted x̂₀ (not of x_t) inside the denoiser.

    x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t; x̂₀ ← x̂₀ − c·LP^p_N(x̂₀) + c·LP^p_N(c_comb) (the module docstring's painted eq. 8;
    with p ≡ 1, ``paint`` None, the paper's x̂₀ − LP_N(x̂₀) + LP_N(c_comb)); ε ← (x_t − √ᾱ_t·x̂₀)/√(1−ᾱ_t). Every
    sampler consumes ε, so this works with all of them, and x_t stays on the noise level the sampler expects.
    ``paint`` and ``lines`` as for ``lowpass_hook``.
    """
    weights = _weights(reference, paint, n, lines)
    lp_ref = {}  # LP^p_N(c_comb) per device and dtype, made once

    def replace(x0: torch.Tensor) -> torch.Tensor:
        key = (x0.device, x0.dtype)
        if key not in lp_ref:
            lp_ref[key] = painted_lowpass(reference.to(x0), weights, n)
        return replace_low_frequencies(x0, lp_ref[key], weights, n)

    return edit_x0(denoiser, scheduler, replace)
