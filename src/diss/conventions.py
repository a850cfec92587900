"""The project's conventions, each decided in exactly one place.

- Pixel range: models see images in [-1, 1]; files hold uint8 in [0, 255]. ``to_model`` / ``from_model`` convert;
  a pipeline hands out [0, 1] as diffusers does (``to_uint8``).
- Sketch: one channel, dark lines (0) on white paper (255); in model range lines are -1 and paper +1.
- Stroke: three channels, RGB paint on a white canvas. Pure white (255, 255, 255) means "no stroke here": the
  unpainted part of a partial stroke image, and the gaps between brush strokes. A transparent pixel of an RGBA stroke
  image is composited onto white, so it means "no stroke here" too.
- Phi, the "condition absent" image: ``diss.phi``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are made, so the extractors' worker processes stay light
    import torch

#: the RGB colour that means "no stroke here" on a stroke image (uint8)
NO_STROKE_RGB: tuple[int, int, int] = (255, 255, 255)
#: a stroke pixel whose every channel is at least this (uint8) counts as "no stroke here" (anti-aliasing, JPEG)
NO_STROKE_MIN: int = 250
#: painted colours are kept at or below this in their brightest channel, so that paint never reads as "no stroke"
PAINT_MAX: int = 245
#: the U-Nets' input channels: the base's concat(x_t (3), sketch (1), strokes (3)) and the upsampler's concat(x_t (3),
#: the enlarged low-resolution image (3), sketch (1)); the order is ``model.model_input``'s and the upsampler's
BASE_IN_CHANNELS: int = 3 + 1 + 3
UPSAMPLER_IN_CHANNELS: int = 3 + 3 + 1
#: the distilled student's (diss.student): the base's, then its two guidance scales and its step count as input maps
STUDENT_IN_CHANNELS: int = BASE_IN_CHANNELS + 2 + 1
#: paper colour of a sketch (uint8); lines are darker than this
SKETCH_PAPER: int = 255
#: a sketch pixel below this (uint8) is on a line: a thin line shrunk to a small size still darkens the pixels it
#: crosses this much (the realism dial leaves them out of the paint's low frequencies; the drawing study's lines; the
#: lines sketch F1 matches)
LINE_MAX: int = 200


def on_white(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) → (H, W, 3) uint8: grey repeated, transparency composited onto white
    (a transparent stroke pixel means "no stroke here")."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round()
    return a[:, :, :3].astype(np.uint8)

def stroke_mask(stroke: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 stroke image → (H, W) bool, True where paint is (anything but near-white)."""
    return np.asarray(stroke).min(axis=-1) < NO_STROKE_MIN


def cap_paint(colors: np.ndarray) -> np.ndarray:
    """Scale colours (..., 3) whose brightest channel exceeds PAINT_MAX down to it, keeping their hue."""
    c = np.asarray(colors, dtype=np.float32)
    peak = c.max(axis=-1, keepdims=True)
    return np.where(peak > PAINT_MAX, c * (PAINT_MAX / np.maximum(peak, 1e-6)), c)


def to_model(array: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, C) → float32 tensor (C, H, W) in [-1, 1]."""
    import torch

    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()  # (C, H, W)
    return t.div_(127.5).sub_(1.0)


def from_model(tensor: torch.Tensor) -> np.ndarray:
    """float tensor (C, H, W) or (B, C, H, W) in [-1, 1] → uint8 array (H, W, C) or (B, H, W, C)."""
    import torch

    t = ((tensor.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).cpu()
    return t.movedim(-3, -1).numpy()


def to_uint8(images) -> np.ndarray:
    """A pipeline's images as uint8 (B, H, W, 3): from ``output_type`` "np" ((B, H, W, 3) float in [0, 1], rounded as
    diffusers rounds them for PIL) or "pil" (a list of images)."""
    if isinstance(images, np.ndarray):
        return (images * 255).round().astype(np.uint8)
    return np.stack([np.asarray(im.convert("RGB")) for im in images])

