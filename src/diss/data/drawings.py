"""Drawings that come from no photo: the benchmark of the realism dial ([4/5]; ``diss evaluate --studies drawings``).

Seeded cartoon flowers drawn with PIL the way people draw them in the app or a paint program: outlines in black, and
colour in one of seven styles (``STYLES``) — flat fills, gradients, scribbles, a few sparse dabs, the flower painted
and the background left white, thick wobbly mouse-drawn lines over flat fills, and the app's round brush. Palettes
are drawn at random over the whole hue circle (blue petals, purple skies: colours no photo of the data set has).
Nothing is derived from any data set; the same ``(index, seed)`` always gives the same drawing.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

STYLES = ("flat", "gradient", "scribble", "sparse", "partial", "mouse", "brush")
#: the canvas side: twice the model's 64 px, as the example drawings are
SIDE = 128


@dataclass(frozen=True)
class Drawing:
    """A sketch (S, S) uint8, dark lines on white, and its strokes (S, S, 3) uint8, white = no paint."""

    name: str
    style: str
    sketch: np.ndarray
    stroke: np.ndarray


def _colour(rng, lightness: tuple[float, float] = (0.35, 0.7), saturation: tuple[float, float] = (0.55, 1.0)):
    """A cartoon colour anywhere on the hue circle (uint8 RGB)."""
    r, g, b = colorsys.hls_to_rgb(rng.uniform(0, 1), rng.uniform(*lightness), rng.uniform(*saturation))
    return tuple(int(round(255 * v)) for v in (r, g, b))


def _petal(cx, cy, angle, r0, r1, width, round_tip: bool, n: int = 16) -> list[tuple[float, float]]:
    """Outline of one petal from radius r0 to r1 along ``angle``: pointed, or rounded at its tip."""
    side = []
    for k in range(n + 1):
        u = k / n
        w = width * (math.sin(math.pi * u) ** 0.7 if not round_tip else math.sqrt(max(0.0, 1 - (2 * u - 1) ** 2)))
        side.append((r0 + (r1 - r0) * u, w))
    pts = side + [(r, -w) for r, w in reversed(side)]
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + r * ca - w * sa, cy + r * sa + w * ca) for r, w in pts]


def _wobble(points, rng, amount: float) -> list[tuple[float, float]]:
    """A hand's (or a mouse's) unsteady version of a polyline."""
    return [(x + rng.normal(0, amount), y + rng.normal(0, amount)) for x, y in points]


def _mask(polygons) -> np.ndarray:
    """(S, S) bool: inside any of the polygons."""
    img = Image.new("L", (SIDE, SIDE), 0)
    draw = ImageDraw.Draw(img)
    for poly in polygons:
        draw.polygon(poly, fill=255)
    return np.asarray(img) > 127


def _gradient(a, b, kind: str, centre=(SIDE / 2, SIDE / 2), radius: float = SIDE / 2) -> np.ndarray:
    """(S, S, 3) float: colour a → b, vertically ("linear") or outwards from ``centre`` ("radial")."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    if kind == "linear":
        t = y / (SIDE - 1)
    else:
        t = np.clip(np.hypot(x - centre[0], y - centre[1]) / radius, 0, 1)
    return (1 - t)[..., None] * np.asarray(a, float) + t[..., None] * np.asarray(b, float)


def _flowers(rng) -> list[dict]:
    """1–3 flowers: centre, sizes, petal count and shape, colours."""
    flowers = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        r_petal = rng.uniform(22, 50) / (1 + 0.35 * len(flowers))
        cx, cy = rng.uniform(r_petal + 4, SIDE - r_petal - 4, size=2)
        petals, r_centre = int(rng.integers(4, 15)), r_petal * rng.uniform(0.15, 0.35)
        half_gap = math.pi * (r_centre + r_petal) / 2 / petals  # half the arc between two petals, mid-way out
        flowers.append({
            "cx": cx, "cy": cy, "r_petal": r_petal, "r_centre": r_centre,
            "petals": petals, "width": half_gap * rng.uniform(0.6, 1.15),
            "round": bool(rng.uniform() < 0.5), "offset": rng.uniform(0, 2 * math.pi),
            "petal": _colour(rng), "petal2": _colour(rng, (0.6, 0.9)), "centre": _colour(rng, (0.2, 0.6)),
        })  # fmt: skip
    return flowers


def _outlines(f: dict) -> list[list[tuple[float, float]]]:
    return [
        _petal(f["cx"], f["cy"], f["offset"] + 2 * math.pi * k / f["petals"], f["r_centre"] * 0.7, f["r_petal"],
               f["width"], f["round"])  # fmt: skip
        for k in range(f["petals"])
    ]


def _circle(f: dict, scale: float = 1.0) -> list[tuple[float, float]]:
    r = f["r_centre"] * scale
    return [(f["cx"] + r * math.cos(a), f["cy"] + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 24)]


def _scribble(draw, rng, mask: np.ndarray, colour, width: int, density: float) -> None:
    """Zig-zag lines of ``colour`` across the region ``mask``, as one colours in with a felt pen."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return
    for _ in range(max(1, int(density * len(xs) / 400))):
        i = rng.integers(len(xs))
        x, y, angle = float(xs[i]), float(ys[i]), rng.uniform(0, math.pi)
        ca, sa = math.cos(angle), math.sin(angle)
        pts = []
        for k in range(int(rng.integers(4, 9))):
            across = (k % 2 * 2 - 1) * rng.uniform(4, 10)  # to one side, then the other, 3 px further on each time
            pts.append((x + 3 * k * ca - across * sa, y + 3 * k * sa + across * ca))
        draw.line(pts, fill=colour, width=width, joint="curve")


def _dabs(draw, rng, mask: np.ndarray, colour, count: int, radius: tuple[float, float]) -> None:
    """Round brush dabs (the app's brush) at random points of ``mask``."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return
    for i in rng.integers(len(xs), size=count):
        r = rng.uniform(*radius)
        c = tuple(int(np.clip(v + rng.normal(0, 6), 0, 250)) for v in colour)
        draw.ellipse([xs[i] - r, ys[i] - r, xs[i] + r, ys[i] + r], fill=c)


def make_drawing(index: int, seed: int = 0) -> Drawing:
    """Drawing ``index`` of the benchmark: style STYLES[index % 7], everything else from (seed, index)."""
    style = STYLES[index % len(STYLES)]
    rng = np.random.default_rng([seed, index])
    flowers = _flowers(rng)
    background = _colour(rng, (0.3, 0.75), (0.3, 0.9))
    petal_polys = [_outlines(f) for f in flowers]
    petals = [_mask(polys) for polys in petal_polys]
    centres = [_mask([_circle(f)]) for f in flowers]
    flower_mask = np.any(petals + centres, axis=0)

    # the strokes
    canvas = np.full((SIDE, SIDE, 3), 255.0)
    if style in ("flat", "mouse"):
        canvas[:] = background
        for f, m, c in zip(flowers, petals, centres, strict=True):
            canvas[m], canvas[c] = f["petal"], f["centre"]
    elif style == "gradient":
        canvas[:] = _gradient(background, _colour(rng, (0.6, 0.9)), "linear")
        for f, m, c in zip(flowers, petals, centres, strict=True):
            canvas[m] = _gradient(f["petal2"], f["petal"], "radial", (f["cx"], f["cy"]), f["r_petal"])[m]
            canvas[c] = f["centre"]
    elif style == "partial":
        for f, m, c in zip(flowers, petals, centres, strict=True):
            canvas[m], canvas[c] = f["petal"], f["centre"]
    stroke = Image.fromarray(canvas.round().astype(np.uint8))
    draw = ImageDraw.Draw(stroke)
    if style == "scribble":
        _scribble(draw, rng, ~flower_mask, background, int(rng.integers(3, 6)), 1.5)
        for f, m, c in zip(flowers, petals, centres, strict=True):
            _scribble(draw, rng, m & ~c, f["petal"], int(rng.integers(3, 6)), 3.0)
            _scribble(draw, rng, c, f["centre"], 3, 6.0)
    elif style in ("sparse", "brush"):
        sparse = style == "sparse"
        _dabs(draw, rng, ~flower_mask, background, 6 if sparse else 90, (3, 6) if sparse else (5, 9))
        for f, m, c in zip(flowers, petals, centres, strict=True):
            _dabs(draw, rng, m & ~c, f["petal"], 2 * f["petals"] if sparse else 12 * f["petals"], (2, 5))
            _dabs(draw, rng, c, f["centre"], 2 if sparse else 10, (2, 4))

    # the sketch: outlines (thick and unsteady for "mouse"), a stem where there is room
    sketch = Image.new("L", (SIDE, SIDE), 255)
    ds = ImageDraw.Draw(sketch)
    width = int(rng.integers(3, 5)) if style == "mouse" else int(rng.integers(1, 3))
    shake = 0.7 if style == "mouse" else 0.25
    for f, polys in zip(flowers, petal_polys, strict=True):
        for poly in polys:
            ds.line(_wobble(poly + poly[:1], rng, shake), fill=0, width=width, joint="curve")
        ds.line(_wobble(_circle(f) + _circle(f)[:1], rng, shake), fill=0, width=width, joint="curve")
        if f["cy"] + f["r_petal"] < SIDE - 12 and rng.uniform() < 0.7:
            x0, y0 = f["cx"], f["cy"] + f["r_petal"]
            ds.line(_wobble([(x0, y0), (x0 + rng.normal(0, 4), (y0 + SIDE) / 2), (x0 + rng.normal(0, 6), SIDE)], rng,
                            shake), fill=0, width=width, joint="curve")  # fmt: skip
    return Drawing(f"{style}-{index:03d}", style, np.asarray(sketch).copy(), np.asarray(stroke).copy())


def make_drawings(n: int = 63, seed: int = 0) -> list[Drawing]:
    """The first ``n`` drawings of the benchmark (63 = 9 of each style)."""
    return [make_drawing(i, seed) for i in range(n)]
