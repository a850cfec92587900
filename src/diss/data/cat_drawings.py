"""Cat drawings that come from no photo: the example drawings of the cats domain (``examples/make_cats.py`` saves
them) and the seeded cats of ``diss evaluate --studies drawings`` on a cats model.

A sketch (black lines on white) and colour strokes (paint on white = "no stroke here") per cat's head — a wobbly head
outline with its ears, almond eyes, a nose, the mouth and whiskers, as a person draws them with a pen, and a coat
painted with a broad brush (tabby, ginger, black, white, grey, calico, black-and-white) with the eyes' colour; some
partial: the eyes alone painted, or the coat alone. Drawn with PIL from seeded random numbers; nothing is derived from
any data set; the same ``(index, seed)`` always gives the same drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw

from diss.data.drawings import SIDE, Drawing
from diss.domains import CAT_EYES  # where the eyes sit: the demo's edit of a cat repaints them there


@dataclass
class Coat:
    """A coat: its base colour, the eyes', the muzzle's, the patches or stripes over it (colour, how many, where:
    "stripes", "patches", "top") and the backdrop's (a plain wall or cushion behind the head)."""

    base: tuple
    eyes: tuple
    muzzle: tuple | None = None
    marks: list = field(default_factory=list)
    backdrop: tuple = (196, 190, 176)


def _dab(draw: ImageDraw.ImageDraw, rng, x: float, y: float, color, length: float, width: float, angle=None):
    """One broad brush stroke: a rotated rectangle with a slightly varied colour (kept below white)."""
    angle = rng.uniform(0, math.pi) if angle is None else angle + rng.normal(0, 0.2)
    c = tuple(int(np.clip(v + rng.normal(0, 7), 0, 240)) for v in color)
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    px, py = -math.sin(angle) * width / 2, math.cos(angle) * width / 2
    draw.polygon([(x - dx - px, y - dy - py), (x + dx - px, y + dy - py), (x + dx + px, y + dy + py),
                  (x - dx + px, y - dy + py)], fill=c)  # fmt: skip


def head_outline(rng, cx: float, cy: float, radius: float, tilt: float) -> list[tuple]:
    """A cat's head seen from the front, as one closed wobbly line: a wide rounded face (fuller cheeks, a narrower
    chin) with two ears rising from its top, each a little different, the whole turned by ``tilt``."""
    ears = [(-math.pi / 2 - 0.62 + rng.normal(0, 0.05), rng.uniform(0.7, 0.85)),
            (-math.pi / 2 + 0.62 + rng.normal(0, 0.05), rng.uniform(0.7, 0.85))]  # fmt: skip
    wobble = [(k, rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 0.035)) for k in (3, 4, 5)]
    pts = []
    for theta in np.linspace(-math.pi, math.pi, 181):
        r = radius * (1.0 + 0.14 * math.cos(2 * theta) - 0.06 * math.sin(theta))  # wide cheeks, a smaller chin
        r *= 1.0 + sum(a * math.cos(k * theta + p) for k, p, a in wobble)
        for at, height in ears:  # a pointed ear: a tent over the outline, sharp at its tip
            d = abs(math.atan2(math.sin(theta - at), math.cos(theta - at)))
            r += radius * height * max(0.0, 1.0 - d / 0.36) ** 1.6
        pts.append((cx + r * math.cos(theta + tilt), cy + r * math.sin(theta + tilt)))
    return pts


def _eye(rng, x: float, y: float, w: float, h: float) -> list[tuple]:
    """An almond eye: two arcs meeting at pointed corners, the outer corner a little higher."""
    top = [(x + w * t, y - h * math.sin(math.pi * (t + 0.5)) ** 0.9 - 0.12 * h * t) for t in np.linspace(-0.5, 0.5, 13)]
    bottom = [(x + w * t, y + h * 0.8 * math.sin(math.pi * (t + 0.5)) - 0.12 * h * t)
              for t in np.linspace(0.5, -0.5, 13)]  # fmt: skip
    return [(px + rng.normal(0, 0.3), py + rng.normal(0, 0.3)) for px, py in top + bottom]


def draw_cat(rng, coat: Coat | None, eyes_only: bool = False, coat_only: bool = False):
    """(sketch, strokes) of one cat's head: lines for the outline, ears, eyes, nose, mouth and whiskers; paint for the
    backdrop, the coat and its marks, the muzzle, the eyes and the nose (``coat`` None: no paint at all)."""
    sketch = Image.new("L", (SIDE, SIDE), 255)
    stroke = Image.new("RGB", (SIDE, SIDE), (255, 255, 255))
    ds, dp = ImageDraw.Draw(sketch), ImageDraw.Draw(stroke)
    s = SIDE / 128
    # the head fills the frame as in the photos, which are cropped around the ears and the mouth
    cx, cy, tilt = SIDE * rng.uniform(0.48, 0.52), SIDE * rng.uniform(0.6, 0.63), rng.normal(0, 0.07)
    radius = 50 * s * rng.uniform(0.95, 1.05)
    outline = head_outline(rng, cx, cy, radius, tilt)
    (lx, ly), (rx, ry) = [(SIDE * ex, SIDE * ey) for ex, ey in CAT_EYES]
    eye_w, eye_h = 20 * s * rng.uniform(0.9, 1.1), 7.5 * s * rng.uniform(0.85, 1.2)
    nose_y, nose_w = cy + 0.2 * radius, 8 * s
    if coat is not None and not eyes_only:
        head = Image.new("L", stroke.size, 0)
        ImageDraw.Draw(head).polygon(outline, fill=255)
        inside = np.asarray(head) > 0
        for _ in range(60):
            x, y = rng.uniform(0, SIDE), rng.uniform(0, SIDE)
            if not coat_only and not inside[int(min(y, SIDE - 1)), int(min(x, SIDE - 1))]:
                _dab(dp, rng, x, y, coat.backdrop, rng.uniform(16, 30) * s, rng.uniform(8, 13) * s)
        layer = Image.new("RGB", stroke.size, (255, 255, 255))
        dl = ImageDraw.Draw(layer)
        for _ in range(160):  # the coat: dabs along the fur, roughly radial from the nose
            x, y = rng.uniform(cx - 1.3 * radius, cx + 1.3 * radius), rng.uniform(cy - 1.8 * radius, cy + 1.1 * radius)
            _dab(dl, rng, x, y, coat.base, rng.uniform(10, 18) * s, rng.uniform(6, 10) * s,
                 angle=math.atan2(y - nose_y, x - cx))  # fmt: skip
        for color, count, where in coat.marks:
            for _ in range(count):
                if where == "stripes":  # a tabby's M on the forehead and bars on the cheeks
                    x, y = cx + rng.uniform(-0.7, 0.7) * radius, cy + rng.uniform(-1.1, 0.1) * radius
                    angle = math.pi / 2 + 0.5 * (x - cx) / radius
                    _dab(dl, rng, x, y, color, rng.uniform(8, 14) * s, 3 * s, angle=angle)
                elif where == "top":  # a tuxedo's dark cap and ears, the muzzle left white
                    x, y = rng.uniform(cx - 1.3 * radius, cx + 1.3 * radius), cy + rng.uniform(-1.8, -0.05) * radius
                    _dab(dl, rng, x, y, color, rng.uniform(12, 20) * s, rng.uniform(7, 11) * s)
                else:  # patches: a calico's or a piebald's, a few blotches of a few dabs each
                    px, py = cx + rng.uniform(-1.0, 1.0) * radius, cy + rng.uniform(-1.4, 0.6) * radius
                    for _ in range(5):
                        _dab(dl, rng, px + rng.normal(0, 5 * s), py + rng.normal(0, 5 * s), color, 12 * s, 8 * s)
        if coat.muzzle is not None:
            for _ in range(14):
                _dab(dl, rng, cx + rng.normal(0, 0.22 * radius), nose_y + rng.uniform(0.0, 0.45) * radius, coat.muzzle,
                     10 * s, 6 * s)  # fmt: skip
        stroke.paste(layer, mask=head)  # the coat stays inside the head's outline
    if coat is not None and not coat_only:
        for x, y in ((lx, ly), (rx, ry)):  # the eyes: their colour, a dark slit
            dp.ellipse([x - eye_w / 2, y - eye_h, x + eye_w / 2, y + eye_h * 0.8], fill=coat.eyes)
            dp.ellipse([x - 1.6 * s, y - eye_h * 0.8, x + 1.6 * s, y + eye_h * 0.6], fill=(25, 20, 18))
    if coat is not None and not coat_only and not eyes_only:
        dp.polygon([(cx - nose_w / 2, nose_y - 3 * s), (cx + nose_w / 2, nose_y - 3 * s), (cx, nose_y + 3 * s)],
                   fill=(222, 140, 150))  # fmt: skip
    pen = max(1, round(2 * s))
    ds.line([*outline, outline[0]], fill=0, width=pen, joint="curve")
    for side in (-1, 1):  # the ears' inner lines
        tip = min(outline, key=lambda p: p[1] + 0.6 * side * (cx - p[0]))
        base_x = cx + side * 0.55 * radius
        inner = [(base_x - side * 0.12 * radius, cy - 0.72 * radius), (tip[0] * 0.7 + base_x * 0.3, tip[1] + 7 * s),
                 (base_x + side * 0.3 * radius, cy - 0.62 * radius)]  # fmt: skip
        ds.line(inner, fill=0, width=pen, joint="curve")
    for x, y in ((lx, ly), (rx, ry)):
        ds.line([*(pts := _eye(rng, x, y, eye_w, eye_h)), pts[0]], fill=0, width=pen, joint="curve")
        ds.line([(x, y - eye_h * 0.7), (x + rng.normal(0, 0.3), y + eye_h * 0.5)], fill=0, width=pen)  # the pupil
    nose = [(cx - nose_w / 2, nose_y - 3 * s), (cx + nose_w / 2, nose_y - 3 * s), (cx, nose_y + 3 * s)]
    ds.polygon(nose, outline=0)
    ds.line([*nose, nose[0]], fill=0, width=pen, joint="curve")
    mouth_y = nose_y + 9 * s
    ds.line([(cx, nose_y + 3 * s), (cx, mouth_y - 2 * s)], fill=0, width=pen)
    for side in (-1, 1):  # the mouth: two small arcs from under the nose, a "ω"
        arc = [(cx + side * 7 * s * t, mouth_y - 2 * s + 4 * s * math.sin(math.pi * t)) for t in np.linspace(0, 1, 8)]
        ds.line(arc, fill=0, width=pen, joint="curve")
        for k in range(3):  # whiskers: three long, slightly drooping lines each side
            y0 = nose_y + (2 + 4 * k) * s
            angle = (k - 1) * 0.16 + rng.normal(0, 0.05)
            length = rng.uniform(26, 34) * s
            whisker = [(cx + side * (9 * s + length * t), y0 + length * t * math.sin(angle) + 4 * s * t * t)
                       for t in np.linspace(0, 1, 6)]  # fmt: skip
            ds.line(whisker, fill=0, width=1)
    return sketch, stroke


COATS = {
    "tabby": Coat((128, 108, 84), (120, 170, 60), (214, 204, 184), [((60, 48, 38), 26, "stripes")]),
    "ginger": Coat((214, 128, 56), (200, 160, 40), (236, 214, 176), [((176, 88, 34), 20, "stripes")]),
    "black-cat": Coat((34, 32, 34), (210, 170, 40)),
    "white-cat": Coat((236, 234, 228), (90, 150, 220), None, [((226, 196, 196), 3, "patches")], (96, 104, 118)),
    "grey-cat": Coat((132, 138, 146), (216, 150, 50), (176, 180, 186), [], (150, 112, 84)),
    "calico": Coat(
        (234, 226, 214),
        (190, 150, 50),
        None,
        [((214, 130, 60), 4, "patches"), ((40, 34, 32), 3, "patches")],
        (88, 110, 84),
    ),
    "tuxedo": Coat((234, 232, 226), (120, 180, 80), None, [((30, 28, 30), 70, "top")], (170, 150, 120)),
}

#: the seeded cats' styles: a coat of COATS, or paint on part of the head only
CAT_STYLES = (*COATS, "eyes-only", "coat-only")
#: the eye colours the seeded cats get (green, yellow, blue, amber, copper, blue-green)
EYE_COLOURS = ((120, 170, 60), (210, 170, 40), (90, 150, 220), (216, 150, 50), (190, 110, 50), (60, 170, 190))


def _jitter(rng, colour: tuple, amount: float = 14.0) -> tuple:
    return tuple(int(np.clip(v + rng.normal(0, amount), 0, 240)) for v in colour)


def make_cat_drawing(index: int, seed: int = 0) -> Drawing:
    """Cat ``index`` of the study: style CAT_STYLES[index % 9] (its colours varied a little, its eyes' drawn from
    EYE_COLOURS), everything else from (seed, index)."""
    style = CAT_STYLES[index % len(CAT_STYLES)]
    rng = np.random.default_rng([seed, index])
    coat = COATS[list(COATS)[int(rng.integers(len(COATS)))] if style in ("eyes-only", "coat-only") else style]
    coat = replace(
        coat,
        base=_jitter(rng, coat.base),
        eyes=EYE_COLOURS[int(rng.integers(len(EYE_COLOURS)))],
        marks=[(_jitter(rng, c), n, where) for c, n, where in coat.marks],
        backdrop=_jitter(rng, coat.backdrop, 20),
    )
    sketch, stroke = draw_cat(rng, coat, eyes_only=style == "eyes-only", coat_only=style == "coat-only")
    return Drawing(f"{style}-{index:03d}", style, np.asarray(sketch).copy(), np.asarray(stroke).copy())


def make_cat_drawings(n: int = 63, seed: int = 0) -> list[Drawing]:
    """The first ``n`` cats of the study (63 = 7 of each style)."""
    return [make_cat_drawing(i, seed) for i in range(n)]
