"""Photo → colour strokes: a few dozen to ~150 opaque, oriented, flat-colour brush strokes on a white canvas.

In the spirit of Hertzmann's painterly rendering (SIGGRAPH 1998) and of the oil-paint strokes of Stylized Neural
Painting that the paper used: brushes from large to small; each layer looks at the photo blurred to the brush's scale,
places a stroke wherever the canvas still differs from it by more than a threshold (every cell on the first, coarse
layer, bar a few left white), coloured with the blurred photo's colour there and oriented along the image structure
(the structure tensor's edge direction). Strokes are rectangles with a faint bristle texture, painted in random order
so they overlap like real paint. Seeded and deterministic. Painted colours are capped (``conventions.cap_paint``) so
white keeps meaning "no stroke here".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from diss import defaults
from diss.conventions import NO_STROKE_RGB, cap_paint


@dataclass(frozen=True)
class StrokeConfig:
    """Knobs of the stroke extractor. ``detail`` in [0, 1]: 0 = a few large strokes, 1 = many, down to small ones."""

    detail: float = defaults.STROKE_DETAIL
    #: chance that a cell of the coarse layer is left unpainted (the white gaps of a real painting)
    gap: float = 0.1
    #: side of the coarse brush as a fraction of the image side
    coarse_brush: float = 0.16


def _orientation(gray: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) angle in radians of the local edge direction (perpendicular to the smoothed gradient)."""
    g = gray.astype(np.float32)
    dx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    jxx = cv2.GaussianBlur(dx * dx, (0, 0), sigma)
    jyy = cv2.GaussianBlur(dy * dy, (0, 0), sigma)
    jxy = cv2.GaussianBlur(dx * dy, (0, 0), sigma)
    gradient_angle = 0.5 * np.arctan2(2.0 * jxy, jxx - jyy)
    return gradient_angle + np.pi / 2.0


def _paint(canvas: np.ndarray, center, length: float, width: float, angle: float, color, rng) -> None:
    """One opaque rectangular stroke with a faint bristle texture, anti-aliased, in place on (H, W, 3) uint8."""
    u = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)  # along the stroke
    v = np.array([-u[1], u[0]], dtype=np.float32)  # across it
    c = np.asarray(center, dtype=np.float32)
    hl, hw = length / 2.0, width / 2.0
    corners = np.stack([c - hl * u - hw * v, c + hl * u - hw * v, c + hl * u + hw * v, c - hl * u + hw * v])
    shift = 4  # sub-pixel precision bits
    cv2.fillConvexPoly(canvas, np.round(corners * (1 << shift)).astype(np.int32), color, cv2.LINE_AA, shift)
    n_bristles = max(2, int(width / 2.5))
    for k in range(n_bristles):
        off = (k + 0.5) / n_bristles * 2.0 - 1.0
        tone = np.clip(np.asarray(color, dtype=np.float32) * rng.uniform(0.9, 1.07), 0, 255)
        tone = tuple(float(x) for x in cap_paint(tone))
        a = c + off * hw * 0.85 * v - hl * 0.9 * u
        b = c + off * hw * 0.85 * v + hl * rng.uniform(0.5, 0.9) * u
        cv2.line(
            canvas,
            tuple(np.round(a * (1 << shift)).astype(int)),
            tuple(np.round(b * (1 << shift)).astype(int)),
            tone,
            1,
            cv2.LINE_AA,
            shift,
        )


def paint_strokes(rgb: np.ndarray, config: StrokeConfig = StrokeConfig(), seed: int = 0) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 photo → ((H, W, 3) uint8 stroke image at the same size, number of strokes painted)."""
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    side = min(h, w)
    detail = float(np.clip(config.detail, 0.0, 1.0))
    photo = rgb.astype(np.float32)
    angle = _orientation(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), sigma=side / 24.0)
    canvas = np.empty_like(rgb)
    canvas[:] = NO_STROKE_RGB
    n_layers = 2 + int(round(detail))  # 2 or 3 brush sizes
    brushes = [config.coarse_brush * side * (0.55**k) for k in range(n_layers)]
    threshold = 44.0 - 20.0 * detail  # mean RGB distance in a cell that calls for another stroke
    count = 0
    for layer, brush in enumerate(brushes):
        reference = cv2.GaussianBlur(photo, (0, 0), max(0.5, 0.35 * brush))
        error = np.linalg.norm(canvas.astype(np.float32) - reference, axis=-1)  # (H, W)
        step = max(2.0, brush * (0.8 if layer == 0 else 1.0))
        ny, nx = max(1, int(round(h / step))), max(1, int(round(w / step)))
        cell_error = cv2.resize(error, (nx, ny), interpolation=cv2.INTER_AREA)
        strokes = []
        for iy in range(ny):
            for ix in range(nx):
                if layer == 0:
                    if rng.random() < config.gap:
                        continue
                elif cell_error[iy, ix] < threshold:
                    continue
                cy = (iy + 0.5 + rng.uniform(-0.35, 0.35)) * h / ny
                cx = (ix + 0.5 + rng.uniform(-0.35, 0.35)) * w / nx
                py, px = int(np.clip(cy, 0, h - 1)), int(np.clip(cx, 0, w - 1))
                color = cap_paint(reference[py, px] + rng.normal(0.0, 3.0, 3))
                strokes.append(
                    (
                        (cx, cy),
                        brush * rng.uniform(1.5, 2.4),
                        brush * rng.uniform(0.55, 0.8),
                        float(angle[py, px]) + rng.normal(0.0, 0.15),
                        tuple(float(x) for x in np.clip(color, 0, 255)),
                    )
                )
        for i in rng.permutation(len(strokes)):
            _paint(canvas, *strokes[i], rng=rng)
        count += len(strokes)
    return canvas, count


def extract_stroke(
    rgb: np.ndarray, size: int | None = None, config: StrokeConfig = StrokeConfig(), seed: int = 0
) -> np.ndarray:
    """(S, S, 3) uint8 photo → (size, size, 3) uint8 strokes on white; ``size`` defaults to S // 2."""
    size = size or max(1, min(rgb.shape[:2]) // 2)
    canvas, _ = paint_strokes(rgb, config, seed)
    if canvas.shape[:2] != (size, size):
        canvas = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return canvas
