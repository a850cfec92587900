"""Photo → sketch: clean contour lines of the main shapes, dark on white (classical and deterministic).

Method, at a working resolution about twice the output side, at most ``LINE_SIDE``:
1. mean-shift filtering (at half resolution) flattens texture (foliage, grass, veins) into regions; a light blur;
2. colour Canny in Lab, thresholds from the image's own gradient percentiles, so dim and contrasty photos give
   similar line density (``detail`` sets the share of pixels above the high threshold);
3. line fragments are ranked by their gradient mass (length x contrast): the strongest ones that make up most of the
   total are kept, short speckle is dropped; this keeps the few long contours a person would draw;
4. lines are drawn at a fixed width and resized to the output size (slightly anti-aliased, like a scan).

A sketch larger than 128 px has the lines of the 128 px one, drawn larger and as much wider as a pen's would be: they
are found once at ``LINE_SIDE`` and drawn at the requested side. Found at the photo's own 512 px, the thresholds and
the fragment ranking (tuned at 128–256 px) kept a few short fragments of a 256 px sketch (a quarter of the ink).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from diss import defaults

#: the largest side at which lines are found: a larger photo is shrunk to it first, and the lines drawn at the output's
#: side (64 and 128 px sketches, found at twice their side, are unchanged by it)
LINE_SIDE = 256


@dataclass(frozen=True)
class SketchConfig:
    """Knobs of the sketch extractor. ``detail`` in [0, 1]: 0 = main outlines only, 1 = many interior lines."""

    detail: float = defaults.SKETCH_DETAIL
    #: line width in output pixels at a 64 px output; it scales with the output size (2 px at 128 px)
    line_width: float = 1.0


def _gradient_magnitude(lab: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (H, W) float32: the largest per-channel Sobel gradient magnitude."""
    mags = []
    for c in range(3):
        dx = cv2.Sobel(lab[:, :, c], cv2.CV_32F, 1, 0, ksize=3)
        dy = cv2.Sobel(lab[:, :, c], cv2.CV_32F, 0, 1, ksize=3)
        mags.append(cv2.magnitude(dx, dy))
    return np.maximum(np.maximum(mags[0], mags[1]), mags[2])


def _keep_strongest(lines: np.ndarray, magnitude: np.ndarray, mass_share: float, min_pixels: int) -> np.ndarray:
    """Keep the 8-connected fragments that hold ``mass_share`` of the gradient mass, each ≥ ``min_pixels`` long."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines.astype(np.uint8), connectivity=8)
    if n <= 1:
        return lines
    mass = np.bincount(labels.ravel(), weights=magnitude.ravel(), minlength=n)
    mass[0] = 0.0
    order = np.argsort(-mass, kind="stable")
    cumulative = np.cumsum(mass[order]) / max(float(mass.sum()), 1e-6)
    keep = np.zeros(n, dtype=bool)
    keep[order[: int(np.searchsorted(cumulative, mass_share)) + 1]] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= min_pixels
    keep[0] = False
    return keep[labels]


def sketch_lines(rgb: np.ndarray, detail: float = defaults.SKETCH_DETAIL) -> np.ndarray:
    """(H, W, 3) uint8 photo → (H, W) bool, True on one-pixel contour lines at the photo's own resolution."""
    side = min(rgb.shape[:2])
    detail = float(np.clip(detail, 0.0, 1.0))
    scale = side / 128.0
    # mean shift at half resolution: 10x faster than at full, and the lines come out as clean
    h, w = rgb.shape[:2]
    half = cv2.resize(rgb, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    flat = cv2.pyrMeanShiftFiltering(half, sp=5 * scale, sr=32, maxLevel=1)
    flat = cv2.resize(flat, (w, h), interpolation=cv2.INTER_LINEAR)
    lab = cv2.GaussianBlur(cv2.cvtColor(flat, cv2.COLOR_RGB2LAB), (0, 0), 1.2 * scale)
    magnitude = _gradient_magnitude(lab)
    above = 5.0 + 6.0 * detail  # percent of pixels above the high hysteresis threshold
    high = max(float(np.percentile(magnitude, 100.0 - above)), 20.0)
    lines = cv2.Canny(lab, 0.35 * high, high, apertureSize=3, L2gradient=True) > 0
    return _keep_strongest(lines, magnitude, 0.72 + 0.2 * detail, max(3, int(round(side * (0.16 - 0.08 * detail)))))


def draw_lines(lines: np.ndarray, size: int, line_width: float = 1.0) -> np.ndarray:
    """(H, W) bool lines → (size, size) uint8 sketch: 0 = ink, 255 = paper, width ``line_width`` per 64 px of output
    (lines found at a smaller side than the output's are enlarged smoothly, their width with them)."""
    side = min(lines.shape[:2])
    width = max(1, int(round(line_width * side / 64.0)))  # in working pixels
    ink = lines.astype(np.uint8) * 255
    if width > 1:
        ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_RECT, (width, width)))
    if ink.shape[:2] != (size, size):
        shrink = size <= min(ink.shape[:2])
        ink = cv2.resize(ink, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    # a line covering a little over half an output pixel still reads as full ink, as on a scanned pen drawing
    return (255.0 - np.minimum(ink.astype(np.float32) * 1.6, 255.0)).round().astype(np.uint8)


def extract_sketch(rgb: np.ndarray, size: int | None = None, config: SketchConfig = SketchConfig()) -> np.ndarray:
    """(S, S, 3) uint8 photo → (size, size) uint8 sketch, lines dark on white; ``size`` defaults to S // 2.

    Give a photo about twice the output side: lines are found there (or at ``LINE_SIDE``, a larger photo shrunk to
    it) and drawn at ``size``.
    """
    size = size or max(1, min(rgb.shape[:2]) // 2)
    h, w = rgb.shape[:2]
    if min(h, w) > LINE_SIDE:  # lines found at LINE_SIDE: the same at every larger size
        scale = LINE_SIDE / min(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return draw_lines(sketch_lines(rgb, config.detail), size, config.line_width)
