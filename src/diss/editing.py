"""Local editing with a mask (white = regenerate): the known image is blended into the predicted x̂₀ at every step,
through a mask feathered inside its white part, so the edit has no seam; outside the mask the output is the input
exactly.

Blending with the hard mask m (the known region replaced outright) leaves a visible edge: the regenerated side is made
next to the known one but never pulled towards it (on the demo's edit the colour jump across the mask's edge is ~3×
the regenerated region's own neighbour-to-neighbour differences, ``seam_score``; 0.94 on the unedited image). Here m
is replaced by f, 0 outside the mask's white part and ramping 1/(w+1), 2/(w+1), … 1 over its first w+1 pixels inside
(``feather_mask``): at every step the band next to the known region is partly the input, so the model continues it,
and the final composite cross-fades into the input over the band instead of cutting. f = 0 outside the mask, so there
the output is the input bit for bit.

The blend acts on x̂₀ inside the denoiser (``sampling.edit_x0``), not on x_t after each step: a multistep solver
(DPM-Solver++) then steps from a consistent history, and the known region follows q(image, t) with the sample's own
noise. Seam score of the demo's edit (4 seeds, fp32): 0.82 / 0.78 / 0.66 with DDIM 10 / DPM-Solver++ 10 / 25 steps,
against 1.12 / 1.12 / 1.03 for the same feathered blend on x_t after each step (the earlier method) and 3.05 hard.
RePaint-style resampling did not lower the seam score at 10 DDIM steps and costs a U-Net call per resampling.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from diss.sampling import edit_x0

#: width w (pixels, at 64 px; scaled with the side) of the band inside the mask's white part where the edit fades into
#: the input. Seam score of the demo's edit (4 seeds, fp32, blended on x_t then) by w: 0 → 2.87, 2 → 1.02, 3 → 1.05,
#: 4 → 1.10, 6 → 1.13 for neighbours, and 1.88 / 1.33 / 1.26 / 1.12 / 1.05 three pixels apart; from 4 on the edge looks
#: blurred
FEATHER = 3


def feather_mask(mask: torch.Tensor, width: int = FEATHER) -> torch.Tensor:
    """f: ``mask`` (B, 1, H, W) in {0, 1} → (B, 1, H, W) in [0, 1]; 0 where the mask is 0, d/(w+1) at the d-th pixel in
    from its edge (chessboard distance), 1 from w+1 pixels in. A region thinner than 2(w+1) pixels ramps up to 1 at
    its own middle, so that its core is regenerated in full. Device ops only (erosions by 3×3 max-pooling)."""
    m = mask.float()
    if width <= 0:
        return m
    depth, inside = torch.zeros_like(m), m
    for _ in range(width + 1):  # depth = how many 3×3 erosions a pixel survives, at most w+1 (the border is no edge)
        depth = depth + inside
        inside = 1.0 - F.max_pool2d(1.0 - inside, 3, stride=1, padding=1)
    deepest = F.max_pool2d(depth, 2 * width + 1, stride=1, padding=width)  # (B, 1, H, W): w+1 in wide regions
    return (depth / deepest.clamp(min=1.0)).clamp(0.0, 1.0)


def x0_mask_denoiser(denoiser, image: torch.Tensor, mask: torch.Tensor, scheduler, feather: int | None = None):
    """Local editing on the predicted x̂₀, inside the denoiser: x̂₀ ← f·x̂₀ + (1 − f)·image, ε ← (x_t − √ᾱ_t·x̂₀)/√(1−ᾱ_t),
    f = ``feather_mask(mask, feather)``; ``image`` (B, 3, H, W) in [-1, 1], ``mask`` (B, 1, H, W) in {0, 1}.

    Every scheduler steps from this ε, so a multistep solver's history stays consistent (an x_t replaced behind its
    back is not); the known region follows q(image, t) with the sample's own noise. ``final_composite`` then makes the
    pixels outside the mask the input's exactly."""
    if feather is None:
        feather = round(FEATHER * min(mask.shape[-2:]) / 64)
    f = feather_mask(mask, feather)  # (B, 1, H, W)

    def blend(x0: torch.Tensor) -> torch.Tensor:
        m = f.to(x0)
        return m * x0 + (1.0 - m) * image.to(x0)

    def final_composite(x: torch.Tensor, t_prev: int, i: int) -> torch.Tensor:
        return x if t_prev >= 0 else blend(x)  # f = 0 outside the mask: the input, bit for bit

    return edit_x0(denoiser, scheduler, blend), final_composite


def seam_score(image, mask, width: int = 1) -> float:
    """How visible the edge of a local edit is: the mean colour difference between pixels ``width`` apart on either
    side of the mask's edge, over the same between pixels ``width`` apart inside the regenerated region, at least
    ``width`` pixels from its edge (the region's own texture at that scale).

    ``image`` (H, W, 3) uint8 or float in [0, 1]; ``mask`` (H, W), white / True / 1 = regenerated. Colour differences
    are Euclidean in RGB [0, 1], over horizontal and vertical pairs. ~1: the edge is no busier than the region's own
    texture; above 1: a seam. ``width`` 1 measures the jump between neighbours (a cut); a larger one also sees an edge
    spread over a few pixels. 0.0 when the mask has no edge (all black or all white)."""
    import cv2

    raw = np.asarray(image)
    img = raw.astype(np.float64) / (255.0 if raw.dtype == np.uint8 else 1.0)
    mask = np.asarray(mask)
    m = mask > (127 if mask.dtype == np.uint8 else 0.5)
    if m.ndim == 3:
        m = m.any(axis=-1)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    core = cv2.erode(m.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE).astype(bool)  # ≥ width px inside
    across, inside = [], []
    w = width
    for a, b, ma, mb, ca, cb in (
        (img[:, :-w], img[:, w:], m[:, :-w], m[:, w:], core[:, :-w], core[:, w:]),  # horizontal pairs
        (img[:-w], img[w:], m[:-w], m[w:], core[:-w], core[w:]),  # vertical pairs
    ):
        d = np.linalg.norm(a - b, axis=-1)  # (H, W − w) or (H − w, W)
        across.append(d[ma != mb])
        inside.append(d[ca & cb])
    across, inside = np.concatenate(across), np.concatenate(inside)
    if across.size == 0:
        return 0.0
    texture = inside.mean() if inside.size else across.mean()  # a region thinner than 2·width: no core
    return float(across.mean() / max(texture, 1e-6))
