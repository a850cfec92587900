"""The upsampler alone on held-out photos shrunk 4× (``diss evaluate --size 256``'s "photo/4 + upsampler" row), for
several model folders, step counts and sketch guidance scales on the same inputs, beside Lanczos.

    python benchmarks/upsampler_sr.py VAL_DIR MODEL[:STEPS,...][@SCALE,...] ... [--num 249] [--out build/sr]

VAL_DIR: held-out photos (the flowers card's: every 10th in name order); N photos and N other floor photos picked as
``diss evaluate --num`` picks them (--num 249 splits the card's 498 in two). SCALE: the upsampler's sketch guidance
(1: none; ``phi``: no sketch at all, Φ). Printed for each: FID/KID at 256 px against the floor's photos (the issue's
reading: the share of Lanczos' gap to the real-vs-real floor that is left, target ≤ 0.5, with a bootstrap interval),
FID to the same photos over Lanczos', and sketch F1 at 2 px and at 8 px (2 px of 64). The photos and their sketches
at 256 px are cached in OUT (``val{num}.npz``, remade when missing or made from another folder).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from diss.conventions import from_model, to_model
from diss.data.cache import PrepareConfig, make_triple
from diss.data.images import center_square, resize
from diss.evaluate.cascade import enlarge_lanczos, mean_f1
from diss.evaluate.metrics import frechet_distance, gap_share, inception_features, kernel_inception_distance
from diss.evaluate.run import load_photos
from diss.pipeline import DiSSPipeline
from diss.runtime import seeded
from diss.upsampler import shrink

TOLERANCES = (2.0, 8.0)


def _inputs(data: str, num: int, out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(photos (N, 256, 256, 3), their sketches (N, 256, 256), the floor's photos), cached in OUT."""
    cache, source = out / f"val{num}.npz", str(Path(data).resolve())
    saved = np.load(cache) if cache.exists() else None  # npz of plain arrays: nothing unpickled
    if saved is not None and "floor" in saved and str(saved["source"]) == source:  # made from this folder
        return saved["real"], saved["sketches"], saved["floor"]
    photos, floor_photos = load_photos(data, num)
    triples = [make_triple(p, PrepareConfig(size=256, seed=0), i) for i, p in enumerate(photos)]
    real, sketches = np.stack([t[0] for t in triples]), np.stack([t[1] for t in triples])
    floor = np.stack([resize(center_square(p), 256) for p in floor_photos])
    tmp = cache.with_name(f".{cache.stem}.tmp.npz")
    np.savez(tmp, real=real, sketches=sketches, floor=floor, source=np.array(source))
    tmp.replace(cache)  # whole or not at all
    return real, sketches, floor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("models", nargs="+", metavar="MODEL[:STEPS,...][@SCALE,...]")
    ap.add_argument("--num", type=int, default=249)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", default="build/sr")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real, sketches, floor = _inputs(args.data, args.num, out)
    real_feats, floor_feats = inception_features(real), inception_features(floor)
    low = shrink(torch.stack([to_model(a) for a in real]))  # (N, 3, 64, 64), as in training
    lanczos = enlarge_lanczos(from_model(low), real.shape[1])
    lanczos_feats = inception_features(lanczos)
    fid_floor, fid_lanczos = frechet_distance(real_feats, floor_feats), frechet_distance(lanczos_feats, floor_feats)
    paired_lanczos = frechet_distance(lanczos_feats, real_feats)
    f1 = mean_f1(sketches, lanczos, real.shape[1], TOLERANCES)
    print(f"{len(real)} photos, {len(floor)} floor photos; FID to the floor's photos: real {fid_floor:.2f}, Lanczos "
          f"{fid_lanczos:.2f}; Lanczos to the same photos {paired_lanczos:.2f}; Lanczos sketch F1 {f1[0]:.3f} (2 px), "
          f"{f1[1]:.3f} (8 px)")  # fmt: skip
    for spec in args.models:
        spec, _, scales = spec.partition("@")
        folder, _, steps = spec.partition(":")
        pipe = DiSSPipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        for k in [int(s) for s in (steps or "1").split(",")]:
            for scale in (scales or "1").split(","):
                started, images = time.perf_counter(), []
                with torch.inference_mode():
                    for s in range(0, len(real), args.batch):
                        sk = None if scale == "phi" else list(sketches[s : s + args.batch])
                        n = min(args.batch, len(real) - s)
                        up = pipe.upsample(low[s : s + n], sk, steps=k, generator=seeded(range(s, s + n)),
                                           sketch_guidance_scale=1.0 if scale == "phi" else float(scale))  # fmt: skip
                        images.append(from_model(up))
                images = np.concatenate(images)
                seconds = time.perf_counter() - started
                feats = inception_features(images)
                fid, kid = frechet_distance(feats, floor_feats), kernel_inception_distance(feats, floor_feats)[0]
                share, lo, hi = gap_share(feats, lanczos_feats, real_feats, floor_feats)
                f1 = mean_f1(sketches, images, real.shape[1], TOLERANCES)
                print(f"{folder} {k} step(s), sketch guidance {scale}: FID {fid:.2f}, KID {kid:.4f} → gap share "
                      f"{share:.3f} [{lo:.3f}, {hi:.3f}]; to the same photos {frechet_distance(feats, real_feats):.2f}"
                      f"; sketch F1 {f1[0]:.3f} (2 px), {f1[1]:.3f} (8 px); {seconds:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
