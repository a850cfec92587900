"""The pipeline's inputs as tensors: each condition, photo or mask (one for all images, or one per image) resized once,
to the size a stage runs at, in model range; a guidance scale as a number, one per image or a spatial map."""

from __future__ import annotations

import numpy as np
import torch

from diss.conventions import to_model
from diss.data.images import resize
from diss.data.inputs import prepare_mask, to_rgb_array
from diss.defaults import MAX_GUIDANCE_SCALE
from diss.errors import DissError


def as_scale(value, name: str, size: int, n: int):
    """A guidance scale: a finite number ≥ 0, or a grayscale map (path, PIL, array) → (n, 1, size, size) in [0, max]."""
    if isinstance(value, (int, float)):
        return float(value)  # its range was checked by check_inputs
    if isinstance(value, torch.Tensor) and value.ndim <= 1:
        if not torch.isfinite(value).all() or (value < 0).any() or (value > MAX_GUIDANCE_SCALE).any():
            raise DissError(f"{name} must lie in [0, {MAX_GUIDANCE_SCALE:g}]")
        return value.float()
    gray = to_rgb_array(value, name).mean(axis=2)  # a spatial map: white = 1, black = 0
    m = torch.from_numpy(resize(gray.astype(np.float32) / 255.0, size)).float()
    return m.expand(n, 1, size, size)


def as_batch(value, prepare, size: int, n: int, what: str, device) -> torch.Tensor | None:
    """One input for all n images, or a list of n inputs (one per image) → (n, C, S, S) in model range."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise DissError(f"give one {what} for all images or one per image ({n}), not {len(value)}")
        return torch.stack([to_model(prepare(v, size)) for v in value]).to(device)
    return to_model(prepare(value, size)).expand(n, -1, -1, -1).to(device)


def as_mask(value, size: int, n: int, device) -> torch.Tensor | None:
    """A mask (white = regenerate) → (n, 1, size, size) in {0, 1}; None when it is all white (regenerate all, as
    without a mask)."""
    m = as_batch(value, lambda v, s: prepare_mask(v, s) * 255.0, size, n, "mask", "cpu").add(1.0).div(2.0)
    return None if bool(m.min() == 1.0) else m.to(device)
