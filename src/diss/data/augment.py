"""Augmentations that make the model robust to hand-made input (uint8 arrays in, uint8 arrays out, seeded).

Sketch: line width jitter, random line dropout, small elastic warps. Strokes: colour jitter of the paint and random
partial masks (parts of the canvas turned back to white, i.e. "no stroke here"). Paired: horizontal flip of all three.

Loose strokes ([4/5], ``AugmentConfig.loose``): the strokes painted from the very photo to be reproduced teach a model
to copy them, so the realism dial has nothing to trade. With chance ``loose`` the strokes are replaced by a looser
rendering of the photo's colours, the way people paint: a flat-colour cartoon of it (a few colours, the background
left white or filled flat), or its painted strokes made coarse (blocky), blurred, moved (shifted, scaled, rotated),
re-coloured (hue, saturation, lightness) and re-painted in a palette no photo has (each hue turned its own way, as the
drawings' purple backgrounds and blue petals) — the image to produce stays the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from diss.conventions import NO_STROKE_RGB, cap_paint, stroke_mask


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and strengths of each augmentation; ``AugmentConfig.off()`` disables all."""

    flip: float = 0.5
    width_jitter: float = 0.5  # chance to thin or thicken the lines
    line_dropout: float = 0.5  # chance to drop some line fragments
    dropout_share: float = 0.25  # share of fragments dropped when it happens
    warp: float = 0.5  # chance of an elastic warp of the sketch
    warp_pixels: float = 1.5  # displacement amplitude at 64 px (scales with size)
    color_jitter: float = 0.8
    partial_mask: float = 0.3  # chance that part of the strokes is erased to white
    loose: float = 0.0  # chance that the strokes are replaced by a loose rendering (``loose_strokes``)

    @staticmethod
    def off() -> AugmentConfig:
        return AugmentConfig(0, 0, 0, 0, 0, 0, 0, 0, 0)


def jitter_line_width(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thicken (grey-level erosion of the paper) or thin (dilation) the dark lines by a random fraction of a pixel."""
    ink = 255.0 - sketch.astype(np.float32)
    amount = rng.uniform(-0.6, 0.7)
    grown = cv2.dilate(ink, np.ones((3, 3), np.uint8)) if amount > 0 else cv2.erode(ink, np.ones((2, 2), np.uint8))
    mixed = ink + abs(amount) * (grown - ink)
    if amount < 0:  # thinning must not erase thin lines entirely: keep at least a faint trace
        mixed = np.maximum(mixed, ink * 0.7)
    return (255.0 - np.clip(mixed, 0, 255)).round().astype(np.uint8)


def drop_lines(sketch: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Erase a random ``share`` of the line fragments, and cut a few short gaps into the rest (pen lifts)."""
    out = sketch.copy()
    ink = sketch < 160
    n, labels = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    if n > 1:
        dropped = np.concatenate([[False], rng.random(n - 1) < share])
        out[dropped[labels] & ink] = 255
    h, w = sketch.shape
    for _ in range(int(rng.integers(0, 4))):
        r = max(1, int(round(rng.uniform(0.02, 0.05) * min(h, w))))
        cv2.circle(out, (int(rng.integers(0, w)), int(rng.integers(0, h))), r, 255, -1)
    return out


def elastic_warp(sketch: np.ndarray, rng: np.random.Generator, pixels: float) -> np.ndarray:
    """Displace the sketch by a smooth random field of amplitude ``pixels`` (a shaky, hand-drawn look)."""
    h, w = sketch.shape
    amplitude = pixels * min(h, w) / 64.0
    sigma = min(h, w) / 8.0
    field = [cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma) for _ in range(2)]
    field = [f * (amplitude / max(float(np.abs(f).max()), 1e-6)) for f in field]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        sketch, gx + field[0], gy + field[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255
    )


def _shift_paint(stroke: np.ndarray, hue: float | np.ndarray, saturation: float, value) -> np.ndarray:
    """The paint's hue turned by ``hue`` (OpenCV units of 2°; a number, or one per pixel (H, W)), its saturation ×
    ``saturation``, its HSV value mapped by ``value``; capped so paint stays paint, and white stays "no stroke"."""
    painted = stroke_mask(stroke)
    hsv = cv2.cvtColor(stroke, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue) % 180.0
    hsv[..., 1] *= saturation
    hsv[..., 2] = value(hsv[..., 2])
    rgb = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    rgb = np.clip(cap_paint(rgb), 0, 255).round().astype(np.uint8)
    return np.where(painted[..., None], rgb, stroke)


def jitter_colors(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift brightness, contrast, saturation and hue of the paint a little; white stays "no stroke"."""
    hue, saturation, contrast, brightness = (rng.uniform(-6, 6), rng.uniform(0.8, 1.2), rng.uniform(0.85, 1.15),
                                             rng.uniform(-18, 18))  # fmt: skip
    return _shift_paint(stroke, hue, saturation, lambda v: (v - 128.0) * contrast + 128.0 + brightness)


def random_partial_mask(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Erase part of the strokes to white: a random half-plane or a few random blobs (region-sensitive input)."""
    h, w = stroke.shape[:2]
    keep = np.ones((h, w), np.uint8)
    if rng.random() < 0.5:
        theta = rng.uniform(0, 2 * np.pi)
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = (gx - w / 2) * np.cos(theta) + (gy - h / 2) * np.sin(theta)
        keep[d > rng.uniform(-0.25, 0.25) * min(h, w)] = 0
    else:
        for _ in range(int(rng.integers(1, 4))):
            axes = (int(rng.uniform(0.12, 0.3) * w), int(rng.uniform(0.12, 0.3) * h))
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.ellipse(keep, center, axes, float(rng.uniform(0, 180)), 0, 360, 0, -1)
    out = stroke.copy()
    out[keep == 0] = NO_STROKE_RGB
    return out


def cartoon(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo (H, W, 3) as a flat-colour cartoon: smoothed, its colours clustered into 3–6 flat ones (k-means), the
    largest region's colour (its background, mostly) left unpainted half the time."""
    h, w = image.shape[:2]
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), rng.uniform(0.8, 2.5) * min(h, w) / 64.0)
    k = int(rng.integers(3, 7))
    pixels = smooth.reshape(-1, 3)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 1.0)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    _, labels, centres = cv2.kmeans(pixels, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    labels = cv2.medianBlur(labels.reshape(h, w).astype(np.uint8), 3)  # (H, W): cleaner, flatter regions
    flat = cap_paint(centres)[labels]  # (H, W, 3)
    if rng.random() < 0.5:
        flat[labels == np.bincount(labels.ravel(), minlength=k).argmax()] = NO_STROKE_RGB
    return np.clip(flat, 0, 255).round().astype(np.uint8)


def coarsen(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blocky strokes: each cell of a 6–16 grid takes its cell's mean paint (white where the cell is mostly white)."""
    h, w = stroke.shape[:2]
    cells = int(rng.integers(6, 17))
    painted = stroke_mask(stroke).astype(np.float32)
    paint = cv2.resize(stroke.astype(np.float32) * painted[..., None], (cells, cells), interpolation=cv2.INTER_AREA)
    share = cv2.resize(painted, (cells, cells), interpolation=cv2.INTER_AREA)
    small = np.where((share > 0.5)[..., None], paint / np.maximum(share, 1e-6)[..., None], 255.0)
    small = np.where((share > 0.5)[..., None], cap_paint(small), small)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST), 0, 255).round().astype(np.uint8)


def blur_paint(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paint blurred within itself (a normalised blur: white does not bleed in), its outline blurred with it."""
    h, w = stroke.shape[:2]
    sigma = rng.uniform(1.0, 3.0) * min(h, w) / 64.0
    painted = stroke_mask(stroke).astype(np.float32)
    weight = cv2.GaussianBlur(painted, (0, 0), sigma)
    paint = cv2.GaussianBlur(stroke.astype(np.float32) * painted[..., None], (0, 0), sigma)
    colour = cap_paint(paint / np.maximum(weight, 1e-6)[..., None])
    return np.where((weight > 0.5)[..., None], np.clip(colour, 0, 255), 255).round().astype(np.uint8)


def move(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strokes out of register with the photo: shifted by ≤ 8% of the side, scaled by 0.9–1.1, rotated by ≤ 10°."""
    h, w = stroke.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), rng.uniform(-10, 10), rng.uniform(0.9, 1.1))
    m[:, 2] += rng.uniform(-0.08, 0.08, 2) * np.array([w, h])
    return cv2.warpAffine(stroke, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=NO_STROKE_RGB)  # fmt: skip


def recolour(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A painter's own palette: hue turned by ≤ 20°, saturation × 0.6–1.5, lightness ± 30; white stays white."""
    hue, saturation, lightness = rng.uniform(-10, 10), rng.uniform(0.6, 1.5), rng.uniform(-30, 30)
    return _shift_paint(stroke, hue, saturation, lambda v: v + lightness)


#: the hue circle's parts that ``repaint`` turns each its own way
REPAINT_HUE_BINS = 6


def repaint(stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A palette no photo has: each sixth of the hue circle turned by its own random angle (one colour → one colour,
    any hue: a green background may turn purple, yellow petals blue), saturation × 0.8–1.6; white stays white."""
    hue = cv2.cvtColor(stroke, cv2.COLOR_RGB2HSV)[..., 0].astype(np.int64)  # (H, W), OpenCV hue 0–179
    turns = rng.uniform(0.0, 180.0, REPAINT_HUE_BINS)
    per_pixel = turns[np.minimum(hue * REPAINT_HUE_BINS // 180, REPAINT_HUE_BINS - 1)]  # (H, W)
    return _shift_paint(stroke, per_pixel, rng.uniform(0.8, 1.6), lambda v: v)


#: what loose_strokes may do to its base rendering, each with chance 1/2
LOOSE_STEPS = (coarsen, blur_paint, move, recolour, repaint)


def loose_strokes(image: np.ndarray, stroke: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A loose rendering of the photo's colours (the module docstring): a cartoon of the photo or its strokes, then
    each of ``LOOSE_STEPS`` with chance 1/2 (at least one of them for the strokes)."""
    base = cartoon(image, rng) if rng.random() < 0.5 else stroke
    steps = [f for f in LOOSE_STEPS if rng.random() < 0.5]
    if not steps and base is stroke:
        steps = [LOOSE_STEPS[int(rng.integers(0, len(LOOSE_STEPS)))]]
    for f in steps:
        base = f(base, rng)
    return np.ascontiguousarray(base)


def augment(
    image: np.ndarray,
    sketch: np.ndarray,
    stroke: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig = AugmentConfig(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the paired and per-condition augmentations to one (image, sketch, stroke) triple of uint8 arrays."""
    if rng.random() < config.flip:
        image, sketch, stroke = image[:, ::-1], sketch[:, ::-1], stroke[:, ::-1]
    sketch = np.ascontiguousarray(sketch)
    stroke = np.ascontiguousarray(stroke)
    if rng.random() < config.warp:
        sketch = elastic_warp(sketch, rng, config.warp_pixels)
    if rng.random() < config.width_jitter:
        sketch = jitter_line_width(sketch, rng)
    if rng.random() < config.line_dropout:
        sketch = drop_lines(sketch, rng, config.dropout_share)
    if config.loose and rng.random() < config.loose:
        stroke = loose_strokes(np.ascontiguousarray(image), stroke, rng)
    if rng.random() < config.color_jitter:
        stroke = jitter_colors(stroke, rng)
    if rng.random() < config.partial_mask:
        stroke = random_partial_mask(stroke, rng)
    return np.ascontiguousarray(image), sketch, stroke
