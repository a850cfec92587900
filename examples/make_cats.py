"""Draw the cat example drawings of `diss demo --model cats` and the app: a sketch (black lines on white) and colour
strokes (paint on white = "no stroke here") per cat's head — a wobbly head outline with its ears, almond eyes, a nose,
the mouth and whiskers, as a person draws them with a pen, and a coat painted with a broad brush (tabby, ginger,
black, white, grey, calico, black-and-white) with the eyes' colour. Two are partial: the eyes alone painted, or the coat
alone. Drawn by `diss.data.cat_drawings` with PIL from seeded random numbers (the drawing study's seeded cats come from
there too); nothing is derived from any data set. Re-run to regenerate the PNGs (deterministic):

    python examples/make_cats.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diss.data.cat_drawings import COATS, Coat, draw_cat

HERE = Path(__file__).resolve().parent


def main(out: Path = HERE) -> None:
    out = Path(out)
    drawings = {name: (COATS[name], {}) for name in COATS}
    drawings["cat-eyes"] = (Coat((0, 0, 0), (60, 170, 190)), {"eyes_only": True})  # blue-green eyes, the rest free
    drawings["cat-coat"] = (COATS["ginger"], {"coat_only": True})  # a ginger coat, the eyes and the nose free
    for seed, (name, (coat, how)) in enumerate(drawings.items(), start=21):
        sketch, stroke = draw_cat(np.random.default_rng(seed), coat, **how)
        sketch.save(out / f"{name}-sketch.png")
        stroke.save(out / f"{name}-stroke.png")
    print(f"wrote the cat example drawings to {out}")


if __name__ == "__main__":
    main()
