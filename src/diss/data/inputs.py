"""User inputs → uint8 arrays at the model's size: sketches (normalised), strokes, photos and masks.

Accepts a path, a PIL image, a NumPy array (uint8 0–255, or float 0–1) or a torch tensor in model range [-1, 1].
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image

from diss.conventions import on_white
from diss.data.images import ImageLoadError, load_image, resize, to_rgb
from diss.errors import DissError


def to_rgb_array(value, what: str) -> np.ndarray:
    """Any accepted input → (H, W, 3) uint8 RGB, transparency composited onto white."""
    if isinstance(value, (str, os.PathLike)):
        try:
            return load_image(value)
        except ImageLoadError as e:
            raise DissError(f"{what}: {e}") from None
    if isinstance(value, Image.Image):
        return to_rgb(value)
    try:
        import torch

        if isinstance(value, torch.Tensor):
            t = value.detach().float().cpu()
            t = t[0] if t.ndim == 4 else t
            value = ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    except ImportError:
        pass
    a = np.asarray(value)
    if a.dtype != np.uint8:
        if not np.isfinite(a).all():
            raise DissError(f"{what} holds NaN or infinite values")
        a = np.clip(a * 255.0 if a.max(initial=0) <= 1.0 else a, 0, 255).round().astype(np.uint8)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or min(a.shape[:2]) < 1:
        raise DissError(f"{what} has shape {a.shape}; give an (H, W), (H, W, 3) or (H, W, 4) image")
    return np.ascontiguousarray(on_white(a))


def _square(a: np.ndarray, size: int) -> np.ndarray:
    return resize(a, size)  # the whole canvas, squeezed to a square if it is not one (a drawing must not be cropped)


def prepare_sketch(value, size: int) -> np.ndarray:
    """(size, size) uint8 sketch, dark lines on white: white-on-black drawings are inverted, faint lines darkened."""
    gray = cv2.cvtColor(to_rgb_array(value, "sketch"), cv2.COLOR_RGB2GRAY)
    if np.median(gray) < 128:  # drawn light on dark
        gray = 255 - gray
    ink = 255.0 - _square(gray, size).astype(np.float32)
    peak = float(ink.max(initial=0))
    if peak > 0:
        ink = ink * (255.0 / peak)  # anti-aliased or pencil-grey lines become full ink, as the model was trained on
    return (255.0 - np.minimum(ink * 1.6, 255.0)).round().astype(np.uint8)


def prepare_stroke(value, size: int) -> np.ndarray:
    """(size, size, 3) uint8 strokes on white (transparent = white = no stroke)."""
    return _square(to_rgb_array(value, "stroke"), size)


def prepare_image(value, size: int) -> np.ndarray:
    return _square(to_rgb_array(value, "image"), size)


def prepare_mask(value, size: int) -> np.ndarray:
    """(size, size) float32 in {0, 1}: 1 (white) = regenerate; resized, then thresholded at half."""
    gray = cv2.cvtColor(to_rgb_array(value, "mask"), cv2.COLOR_RGB2GRAY)
    return (_square(gray, size) >= 128).astype(np.float32)
