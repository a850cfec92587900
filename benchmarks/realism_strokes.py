"""[4/5]: what holds the drawings' KID up at realism 1? The drawing study's metrics for a few settings beside the
defaults: the stroke guidance scale lowered, the strokes blurred before the U-Net sees them, no strokes at all, the
strokes only in realism's low-pass at a few sides N.

    python benchmarks/realism_strokes.py VAL_DIR [--model flowers] [--num 100] [--drawings 63]
        [--settings r0 r1 r1-st0.5 ...] [--out build/realism_strokes]

VAL_DIR: the model's held-out photos (photos picked as ``diss evaluate --num`` picks them, at the model's side);
the drawings, seeds and metrics are ``diss evaluate --studies drawings``' (one sample per drawing, seed = its index).
Writes ``sheet.png`` (rows = settings, every 6th drawing) and ``metrics.json`` into OUT.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from diss.data.images import resize
from diss.data.sketch import extract_sketch
from diss.domains import domain_of
from diss.evaluate.drawings import benchmark, generate_drawings, lines_at
from diss.evaluate.metrics import (
    frechet_distance,
    inception_features,
    kernel_inception_distance,
    sketch_f1,
    stroke_error,
)
from diss.evaluate.run import load_photos
from diss.grid import save_grid
from diss.loading import load_pipeline

#: name → (pipeline keywords, Gaussian blur σ of the strokes in pixels of the model's side; 0 = none)
SETTINGS = {
    "r0": (dict(realism=0.0), 0),
    "r1": (dict(realism=1.0), 0),  # the defaults
    "r1-st0.5": (dict(realism=1.0, stroke_guidance_scale=0.5), 0),
    "r1-st0": (dict(realism=1.0, stroke_guidance_scale=0.0), 0),  # strokes only in realism's low-pass (N = 1)
    "r1-blur8": (dict(realism=1.0), 8),
    "off-st0": (dict(realism=None, stroke_guidance_scale=0.0), 0),  # the sketch alone: no strokes anywhere
    "r1-st0.25": (dict(realism=1.0, stroke_guidance_scale=0.25), 0),
    # strokes out of the U-Net, their colours from realism's low-pass alone at a finer side N = 1 + k
    "r1-st0-N2": (dict(realism=1.0, realism_k=1, stroke_guidance_scale=0.0), 0),
    "r1-st0-N4": (dict(realism=1.0, realism_k=3, stroke_guidance_scale=0.0), 0),
    "r1-st0-N8": (dict(realism=1.0, realism_k=7, stroke_guidance_scale=0.0), 0),
}


def _blur(stroke: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(stroke, (int(6 * sigma) | 1,) * 2, sigma) if sigma else stroke


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--model", default="flowers")
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--drawings", type=int, default=63, help="seeded cartoon drawings beside the examples")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", default="build/realism_strokes")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.size
    photos, _ = load_photos(args.data, args.num)
    real_feats = inception_features(np.stack([resize(p, size) for p in photos]))
    drawings = benchmark(0, args.drawings, domain_of(pipe.diss_meta).name)
    names, sketches, strokes = zip(*drawings, strict=True)
    n, lines = len(drawings), [lines_at(s, size) for s in sketches]
    small = [cv2.resize(s, (size, size), interpolation=cv2.INTER_AREA) for s in strokes]
    columns = list(range(0, n, 6))
    rows = [[cv2.resize(np.minimum(strokes[i], sketches[i][..., None]), (size, size), interpolation=cv2.INTER_AREA)
             for i in columns]]  # fmt: skip
    metrics: dict = {"model": args.model, "drawings": n, "photos": len(photos), "settings": {}}
    for name in args.settings:
        kw, sigma = SETTINGS[name]
        given = [_blur(s, sigma * s.shape[0] / size) for s in strokes]
        started = time.perf_counter()
        images = generate_drawings(pipe, sketches, given, list(range(n)), batch=args.batch, **kw)
        feats = inception_features(images)
        f1 = [sketch_f1(lines[i], extract_sketch(resize(images[i], 2 * size), size))[2] for i in range(n)]
        row = {
            "kid": kernel_inception_distance(feats, real_feats)[0],
            "fid": frechet_distance(feats, real_feats),
            "stroke_error": float(np.nanmean([stroke_error(small[i], images[i]) for i in range(n)])),
            "sketch_f1": float(np.mean(f1)),
            "seconds": round(time.perf_counter() - started),
        }
        metrics["settings"][name] = row
        print(name, {k: round(v, 4) for k, v in row.items()}, flush=True)
        rows.append([images[i] for i in columns])
    save_grid(out / "sheet.png", [[cv2.resize(x, (2 * size,) * 2, interpolation=cv2.INTER_NEAREST) for x in r]
                                  for r in rows], col_labels=[names[i] for i in columns],
              row_labels=["drawing", *args.settings])  # fmt: skip
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1))
    tmp.replace(out / "metrics.json")


if __name__ == "__main__":
    main()
