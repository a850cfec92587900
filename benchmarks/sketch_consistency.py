"""Sketch consistency across sizes ([4/4]): the 256 px sketch of a photo against its 128 px sketch enlarged, lines
matched within 2 px at 256 (``sketch_f1``), on held-out photos; beside it the extractor as it was before lines were
found at ``LINE_SIDE`` (at the photo's own 512 px), and the ink of the 256 px sketch over four times the 128 px one's.
Writes a PNG grid of the first 16 photos: the photo, its sketches at 64, 128 and 256 px, and the 256 px one of before.

    python benchmarks/sketch_consistency.py HELD_OUT_PHOTOS --num 100 --out outputs/sketch-consistency.png

About a minute for 100 photos on 2 AVX2 cores.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from diss.conventions import LINE_MAX
from diss.data.images import center_square, find_images, load_image, resize
from diss.data.sketch import SketchConfig, draw_lines, extract_sketch, sketch_lines
from diss.evaluate.metrics import sketch_f1
from diss.grid import save_grid


def sketches(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The photo's sketches at 64, 128 and 256 px as the project makes them (each from the photo at twice its side),
    and the 256 px one as the extractor made it before (lines found at 512 px)."""
    square = center_square(rgb)
    out = {f"{s} px": extract_sketch(resize(square, 2 * s), s) for s in (64, 128, 256)}
    out["256 px before"] = draw_lines(sketch_lines(resize(square, 512), SketchConfig().detail), 256)
    return out


def consistency(made: dict[str, np.ndarray], key: str) -> tuple[float, float]:
    """(F1 of the 256 px sketch ``key`` against the 128 px one enlarged, within 2 px; its ink over 4× the 128's)."""
    enlarged = resize(made["128 px"], 256)
    ink_128 = float((made["128 px"] < LINE_MAX).sum()) * 4
    return sketch_f1(enlarged, made[key])[2], float((made[key] < LINE_MAX).sum()) / max(ink_128, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="held-out photos (at least 256 px for a fair 256 px sketch)")
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("outputs/sketch-consistency.png"))
    args = parser.parse_args()
    paths = sorted(find_images(args.photos))[: args.num]
    rows, scores = [], {"256 px": [], "256 px before": []}
    for i, path in enumerate(paths):
        rgb = load_image(path)
        made = sketches(rgb)
        for key, values in scores.items():
            values.append(consistency(made, key))
        if i < 16:
            rows.append([resize(center_square(rgb), 256), *made.values()])
    for key, values in scores.items():
        f1, ink = [v[0] for v in values], [v[1] for v in values]
        print(f"{key:>14}: F1 vs the 128 px sketch enlarged {statistics.mean(f1):.3f} (median "
              f"{statistics.median(f1):.3f}, min {min(f1):.3f}), ink {statistics.mean(ink):.2f}x the 128 px "
              f"sketch's, on {len(f1)} photos")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(args.out, rows, col_labels=["photo", "64 px", "128 px", "256 px", "256 px before"], cell=256)
    print(f"grid: {args.out}")


if __name__ == "__main__":
    main()
