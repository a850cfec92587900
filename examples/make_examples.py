"""Draw the example drawings of `diss demo`: a sketch (black lines on white) and colour strokes (paint on white =
"no stroke here") per flower, authored here with PIL, like a person would with a pen and a broad brush. Nothing is
derived from any data set. Re-run to regenerate the PNGs (deterministic):

    python examples/make_examples.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIDE = 128  # drawn at twice the model's 64 px, as an artist's canvas would be larger than the model
HERE = Path(__file__).resolve().parent


def _petal(cx: float, cy: float, angle: float, r0: float, r1: float, width: float, n: int = 24):
    """Outline of a petal from radius r0 to r1 around (cx, cy) along ``angle``: a pointed ellipse."""
    pts = []
    for k in range(n + 1):
        u = k / n  # 0 → 1 along one side, then back on the other
        r = r0 + (r1 - r0) * u
        w = width * math.sin(math.pi * u) ** 0.8
        pts.append((r, w))
    pts += [(r, -w) for r, w in reversed(pts)]
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + r * ca - w * sa, cy + r * sa + w * ca) for r, w in pts]


def _dab(draw: ImageDraw.ImageDraw, rng, x: float, y: float, color, length: float, width: float, angle=None):
    """One broad brush stroke: a rotated rectangle with a slightly varied colour."""
    angle = rng.uniform(0, math.pi) if angle is None else angle + rng.normal(0, 0.2)
    c = tuple(int(np.clip(v + rng.normal(0, 8), 0, 240)) for v in color)
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    px, py = -math.sin(angle) * width / 2, math.cos(angle) * width / 2
    draw.polygon(
        [
            (x - dx - px, y - dy - py),
            (x + dx - px, y + dy - py),
            (x + dx + px, y + dy + py),
            (x - dx + px, y - dy + py),
        ],
        fill=c,
    )


def _background(draw, rng, color, count=70):
    for _ in range(count):
        _dab(draw, rng, rng.uniform(0, SIDE), rng.uniform(0, SIDE), color, rng.uniform(18, 34), rng.uniform(8, 14))


def flower(
    name: str,
    petals: int,
    petal_color,
    center_color,
    background,
    r_center: float,
    r_petal: float,
    width: float,
    seed: int,
    cx: float = 64,
    cy: float = 64,
    partial: bool = False,
) -> None:
    rng = np.random.default_rng(seed)
    sketch = Image.new("L", (SIDE, SIDE), 255)
    stroke = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    ds, dp = ImageDraw.Draw(sketch), ImageDraw.Draw(stroke)
    if not partial:
        _background(dp, rng, background)
    offset = rng.uniform(0, 2 * math.pi)
    outlines = []
    for k in range(petals):
        a = offset + 2 * math.pi * k / petals + rng.normal(0, 0.06)
        outline = _petal(cx, cy, a, r_center * 0.8, r_petal * rng.uniform(0.9, 1.08), width * rng.uniform(0.85, 1.1))
        outlines.append(outline)
        for _ in range(5 + int(width // 2)):  # paint along the petal, roughly
            t = rng.uniform(0.25, 0.95)
            r = r_center + (r_petal - r_center) * t
            _dab(
                dp,
                rng,
                cx + r * math.cos(a),
                cy + r * math.sin(a),
                petal_color,
                rng.uniform(10, 18),
                width * 1.1,
                angle=a,
            )
    for _ in range(8 + int(r_center)):
        rr, aa = rng.uniform(0, r_center * 0.6), rng.uniform(0, 2 * math.pi)
        _dab(dp, rng, cx + rr * math.cos(aa), cy + rr * math.sin(aa), center_color, r_center * 1.0, r_center * 0.6)
    for outline in outlines:
        ds.line(outline, fill=0, width=2, joint="curve")
    ds.ellipse([cx - r_center, cy - r_center, cx + r_center, cy + r_center], outline=0, width=2)
    sketch.save(HERE / f"{name}-sketch.png")
    stroke.save(HERE / f"{name}-stroke.png")


def main() -> None:
    flower("daisy", 14, (236, 234, 226), (235, 185, 30), (60, 110, 50), 11, 46, 7, seed=1)
    flower("poppy", 5, (215, 40, 35), (40, 30, 35), (85, 125, 70), 10, 50, 20, seed=2)
    flower("sunflower", 20, (240, 190, 20), (95, 60, 30), (70, 120, 170), 20, 54, 6, seed=3)
    flower("pink", 8, (225, 110, 170), (240, 220, 90), (40, 80, 40), 9, 44, 13, seed=4, partial=True)
    print(f"wrote the example drawings to {HERE}")


if __name__ == "__main__":
    main()
