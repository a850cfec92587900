"""The upsampler alone on held-out photos shrunk 4× (``diss evaluate --size 256``'s "photo/4 + upsampler" row), for
several model folders and step counts on the same inputs, beside Lanczos: FID/KID at 256 px against the same photos.

    python benchmarks/upsampler_sr.py VAL_DIR MODEL[:STEPS,...] ... [--num 100] [--out build/sr]

VAL_DIR: held-out photos (the flowers card's: every 10th in name order); photos picked as ``diss evaluate --num``
picks them; their sketches at 256 px are cached in OUT (``val{num}.npz``, remade when missing or made from another
folder).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from diss.conventions import from_model, to_model
from diss.data.cache import PrepareConfig, make_triple
from diss.evaluate import _load_photos
from diss.evaluate_cascade import _lanczos
from diss.metrics import frechet_distance, inception_features, kernel_inception_distance
from diss.pipeline import DiSSPipeline
from diss.runtime import seeded
from diss.upsampler import shrink


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("models", nargs="+", metavar="MODEL[:STEPS,...]")
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", default="build/sr")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache, source = out / f"val{args.num}.npz", str(Path(args.data).resolve())
    saved = np.load(cache) if cache.exists() else None  # npz of plain arrays: nothing unpickled
    if saved is not None and "source" in saved and str(saved["source"]) == source:  # made from this folder
        real, sketches = saved["real"], saved["sketches"]
    else:
        photos, _ = _load_photos(args.data, args.num)
        triples = [make_triple(p, PrepareConfig(size=256, seed=0), i) for i, p in enumerate(photos)]
        real, sketches = np.stack([t[0] for t in triples]), np.stack([t[1] for t in triples])
        tmp = cache.with_name(f".{cache.stem}.tmp.npz")
        np.savez(tmp, real=real, sketches=sketches, source=np.array(source))
        tmp.replace(cache)  # whole or not at all
    real_feats = inception_features(real)
    low = shrink(torch.stack([to_model(a) for a in real]))  # (N, 3, 64, 64), as in training
    lanczos = frechet_distance(inception_features(_lanczos(from_model(low), real.shape[1])), real_feats)
    print(f"{len(real)} photos; Lanczos FID {lanczos:.2f}")
    for spec in args.models:
        folder, _, steps = spec.partition(":")
        pipe = DiSSPipeline.from_pretrained(folder)
        for k in [int(s) for s in (steps or "1").split(",")]:
            started, images = time.perf_counter(), []
            with torch.inference_mode():
                for s in range(0, len(real), args.batch):
                    sk = list(sketches[s : s + args.batch])
                    up = pipe.upsample(low[s : s + len(sk)], sk, steps=k, generator=seeded(range(s, s + len(sk))))
                    images.append(from_model(up))
            feats = inception_features(np.concatenate(images))
            fid, kid = frechet_distance(feats, real_feats), kernel_inception_distance(feats, real_feats)[0]
            print(f"{folder} {k} step(s): FID {fid:.2f}, KID {kid:.4f}, {fid / lanczos:.3f}× Lanczos' "
                  f"({time.perf_counter() - started:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
