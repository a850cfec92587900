"""Labelled PNG grids: what people look at (previews, sweeps, training progress)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from diss.data.images import save_png


def _rgb(cell: np.ndarray, side: int) -> np.ndarray:
    a = np.asarray(cell)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[0] != side or a.shape[1] != side:
        a = cv2.resize(a, (side, side), interpolation=cv2.INTER_NEAREST if a.shape[0] < side else cv2.INTER_AREA)
    return a.astype(np.uint8)


#: the smallest default cell: a 64 px image is shown at 2×
MIN_CELL = 128


def make_grid(
    rows: Sequence[Sequence[np.ndarray]],
    col_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    cell: int | None = None,
    pad: int = 2,
) -> np.ndarray:
    """Rows of uint8 images (H, W[, C]) → one (H', W', 3) uint8 grid, cells scaled to ``cell`` px (default: the largest
    image's side, at least MIN_CELL, so that no image is shown below its own size), optional labels."""
    if cell is None:
        cell = max([MIN_CELL] + [max(np.asarray(img).shape[:2]) for row in rows for img in row])
    n_cols = max(len(r) for r in rows)
    font = ImageFont.load_default(size=max(10, cell // 10))
    top = cell // 6 + 4 if col_labels else 0
    left = int(cell * 0.9) if row_labels else 0
    h = top + len(rows) * (cell + pad) + pad
    w = left + n_cols * (cell + pad) + pad
    canvas = np.full((h, w, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = top + pad + i * (cell + pad), left + pad + j * (cell + pad)
            canvas[y : y + cell, x : x + cell] = _rgb(img, cell)
    if col_labels or row_labels:
        pil = Image.fromarray(canvas)
        draw = ImageDraw.Draw(pil)
        for j, text in enumerate(col_labels or []):
            draw.text((left + pad + j * (cell + pad) + 2, 2), str(text), fill=(0, 0, 0), font=font)
        for i, text in enumerate(row_labels or []):
            draw.text((2, top + pad + i * (cell + pad) + cell // 2 - 6), str(text), fill=(0, 0, 0), font=font)
        canvas = np.asarray(pil)
    return canvas


def save_grid(path: str | os.PathLike, rows: Sequence[Sequence[np.ndarray]], **kwargs) -> None:
    """``make_grid`` written atomically as a PNG."""
    save_png(make_grid(rows, **kwargs), path)
