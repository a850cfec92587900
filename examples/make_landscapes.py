"""Draw the landscape example drawings of `diss demo --model landscapes` and the app: a sketch (black lines on white)
and colour strokes (paint on white = "no stroke here") per scene — horizons, mountain ridges, sea, sky — authored
here with PIL from seeded random numbers, as a person would draw them with a pen and a broad brush. Nothing is
derived from any data set. Re-run to regenerate the PNGs (deterministic):

    python examples/make_landscapes.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIDE = 128  # drawn at twice the model's 64 px, like the flower examples
HERE = Path(__file__).resolve().parent


def _ridge(rng, y0: float, amplitude: float, peaks: int, start: float = 0.0, end: float = SIDE) -> list[tuple]:
    """A mountain ridge from x = start to end: ``peaks`` summits about ``amplitude`` above the base line y0, jagged."""
    xs = np.linspace(start, end, 4 * peaks + 1)
    pts = []
    for i, x in enumerate(xs):
        height = amplitude * (rng.uniform(0.6, 1.0) if i % 4 == 2 else rng.uniform(0.0, 0.35)) if i % 2 == 0 else None
        pts.append((float(x), height))
    for i, (x, h) in enumerate(pts):  # the points between: halfway, jittered
        if h is None:
            h = (pts[i - 1][1] + pts[i + 1][1]) / 2 + rng.normal(0, amplitude * 0.08)
            pts[i] = (x, h)
    return [(x, y0 - h) for x, h in pts]


def _dab(draw: ImageDraw.ImageDraw, rng, x: float, y: float, color, length: float, width: float, angle: float = 0.0):
    """One broad brush stroke: a rotated rectangle with a slightly varied colour."""
    angle += rng.normal(0, 0.12)
    c = tuple(int(np.clip(v + rng.normal(0, 7), 0, 240)) for v in color)
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    px, py = -math.sin(angle) * width / 2, math.cos(angle) * width / 2
    draw.polygon([(x - dx - px, y - dy - py), (x + dx - px, y + dy - py), (x + dx + px, y + dy + py),
                  (x - dx + px, y - dy + py)], fill=c)  # fmt: skip


def _fill_band(stroke: Image.Image, rng, top, bottom, color, count: int, length=(20, 36), width=(7, 12)) -> None:
    """Paint the band between the curves ``top(x)`` and ``bottom(x)`` with roughly horizontal dabs, kept inside it
    (a painter's brush stops at the edge it paints up to; gaps between dabs stay unpainted)."""
    layer = Image.new("RGB", stroke.size, (255, 255, 255))
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        x = rng.uniform(0, SIDE)
        lo, hi = top(x), bottom(x)
        if hi - lo < 2:
            continue
        _dab(draw, rng, x, rng.uniform(lo, hi), color, rng.uniform(*length), rng.uniform(*width))
    xs = np.linspace(0, SIDE, 65)
    region = Image.new("L", stroke.size, 0)
    outline = [(x, top(x)) for x in xs] + [(x, bottom(x)) for x in xs[::-1]]
    ImageDraw.Draw(region).polygon(outline, fill=255)
    painted = Image.fromarray(((np.asarray(layer).min(axis=2) < 250) * np.asarray(region)).astype(np.uint8))
    stroke.paste(layer, mask=painted)


def _curve(points: list[tuple]):
    """y(x) along a polyline."""
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    return lambda x: float(np.interp(x, xs, ys))


def _flat(y: float):
    return lambda x: y


OUT = [HERE]  # where _save writes: main(out) points it elsewhere


def _save(name: str, sketch: Image.Image, stroke: Image.Image) -> None:
    sketch.save(OUT[0] / f"{name}-sketch.png")
    stroke.save(OUT[0] / f"{name}-stroke.png")


def _canvases():
    sketch = Image.new("L", (SIDE, SIDE), 255)
    stroke = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    return sketch, stroke, ImageDraw.Draw(sketch), ImageDraw.Draw(stroke)


def mountains(name: str, seed: int, sky, snow, rock, forest, partial: bool = False) -> None:
    """Snowy peaks over a forest: a ridge line, a snow line, the forest's edge; sky, snow, rock and forest strokes."""
    rng = np.random.default_rng(seed)
    sketch, stroke, ds, dp = _canvases()
    ridge = _ridge(rng, 72, 46, 2)
    snow_line = [(x, y + 14 + rng.uniform(-3, 5)) for x, y in ridge]
    forest_edge = [(float(x), 92 + 5 * math.sin(x / 9) + rng.uniform(-2, 2)) for x in np.linspace(0, SIDE, 17)]
    top, snow_y, edge = _curve(ridge), _curve(snow_line), _curve(forest_edge)
    _fill_band(stroke, rng, _flat(0), top, sky, 80)
    if not partial:
        _fill_band(stroke, rng, top, snow_y, snow, 70, length=(10, 20), width=(4, 8))
        _fill_band(stroke, rng, snow_y, edge, rock, 50)
        _fill_band(stroke, rng, edge, _flat(SIDE), forest, 60)
    for line in (ridge, snow_line, forest_edge):
        ds.line(line, fill=0, width=2, joint="curve")
    _save(name, sketch, stroke)


def sea(name: str, seed: int, sky, water, sand, sun=None) -> None:
    """A beach: the horizon, a wave line or two, the shore; sky, sea and sand strokes (and a low sun)."""
    rng = np.random.default_rng(seed)
    sketch, stroke, ds, dp = _canvases()
    horizon = 52 + rng.uniform(-4, 4)
    shore = [(float(x), 96 - 10 * math.sin(x / 40 + 0.5) + rng.uniform(-1.5, 1.5)) for x in np.linspace(0, SIDE, 17)]
    _fill_band(stroke, rng, _flat(0), _flat(horizon), sky, 60)
    _fill_band(stroke, rng, _flat(horizon), _curve(shore), water, 70)
    _fill_band(stroke, rng, _curve(shore), _flat(SIDE), sand, 50)
    if sun is not None:
        cx, cy, r = 90, horizon - 14, 8
        dp.ellipse([cx - r, cy - r, cx + r, cy + r], fill=sun)
        ds.ellipse([cx - r, cy - r, cx + r, cy + r], outline=0, width=2)
    ds.line([(0, horizon), (SIDE, horizon + rng.uniform(-1, 1))], fill=0, width=2)
    for k in range(2):  # waves: short arcs in the water
        y = horizon + 14 + 14 * k
        x0 = rng.uniform(5, 50)
        ds.line([(x, y + 2 * math.sin((x - x0) / 5)) for x in np.arange(x0, x0 + 50, 2)], fill=0, width=2)
    ds.line(shore, fill=0, width=2, joint="curve")
    _save(name, sketch, stroke)


def lake(name: str, seed: int, sky, peaks, water) -> None:
    """A glacier lake: a ridge and its reflection's shoreline; ice-blue peaks, turquoise water."""
    rng = np.random.default_rng(seed)
    sketch, stroke, ds, dp = _canvases()
    ridge = _ridge(rng, 78, 50, 3)
    shoreline = 80 + rng.uniform(-2, 2)
    _fill_band(stroke, rng, _flat(0), _curve(ridge), sky, 60)
    _fill_band(stroke, rng, _curve(ridge), _flat(shoreline), peaks, 120, length=(10, 22), width=(4, 9))
    _fill_band(stroke, rng, _flat(shoreline), _flat(SIDE), water, 60)
    ds.line(ridge, fill=0, width=2, joint="curve")
    ds.line([(0, shoreline), (SIDE, shoreline)], fill=0, width=2)
    _save(name, sketch, stroke)


def main(out: Path = HERE) -> None:
    OUT[0] = Path(out)
    mountains("mountain", 11, sky=(120, 170, 225), snow=(238, 240, 245), rock=(110, 105, 100), forest=(40, 80, 45))
    sea("sea", 12, sky=(150, 190, 230), water=(30, 90, 150), sand=(215, 195, 150))
    lake("glacier", 13, sky=(110, 160, 220), peaks=(200, 212, 228), water=(40, 150, 165))
    sea("sunset", 14, sky=(235, 150, 90), water=(70, 60, 110), sand=(120, 90, 70), sun=(250, 220, 120))
    # strokes on the sky only: the mountains and the forest below are left to the model
    mountains("peaks", 15, sky=(90, 140, 210), snow=(240, 240, 245), rock=(95, 90, 90), forest=(35, 70, 40),
              partial=True)
    print(f"wrote the landscape example drawings to {out}")


if __name__ == "__main__":
    main()
