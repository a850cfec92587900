"""Quality of each backend and precision against PyTorch fp32 (the reference): FID at the defaults on held-out photos,
and how far each image lies from the reference's (same drawings, same seeds). A reduced precision is "auto"'s choice
only where its FID stays within 2% of the reference's.

    python benchmarks/backend_quality.py --data ../shared/data/flowers --num 249 [--out report.json]

The held-out photos are every 10th photo in file-name order (the shipped model's validation split): the first N give
the drawings, the next N the real-vs-real floor.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from diss.conventions import to_uint8
from diss.data.cache import PrepareConfig, make_triple
from diss.data.images import center_square, find_images, load_image, resize
from diss.evaluate.metrics import frechet_distance, inception_features
from diss.folder import SHIPPED_MODEL
from diss.pipeline import DiSSPipeline
from diss.runtime import cpu_supports_bf16


def validation_photos(folder: str, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(N photos for the drawings, N others for the floor) from every 10th photo in name order."""
    held_out = find_images(folder)[::10]
    if len(held_out) < 2 * n:
        raise SystemExit(f"{folder} holds {len(held_out)} held-out photos; --num must be at most {len(held_out) // 2}")
    photos = [load_image(p) for p in held_out[: 2 * n]]
    return photos[:n], photos[n:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--data", required=True, help="the photo folder (every 10th photo is held out)")
    parser.add_argument("--num", type=int, default=249)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()

    pipe = DiSSPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    size = pipe.size
    photos, floor_photos = validation_photos(args.data, args.num)
    triples = [make_triple(p, PrepareConfig(size=size, seed=0), i) for i, p in enumerate(photos)]
    real = np.stack([t[0] for t in triples])
    real_feats = inception_features(real)
    floor = frechet_distance(inception_features(np.stack([resize(center_square(p), size) for p in floor_photos])),
                             real_feats)  # fmt: skip
    variants = [("torch", "fp32"), ("openvino", "fp32")]
    if cpu_supports_bf16():
        variants += [("torch", "bf16"), ("openvino", "bf16")]
    results, reference = {}, None
    for backend, precision in variants:
        pipe.set_backend(backend, precision=precision)
        images, start = [], time.perf_counter()
        for b in tqdm(range(0, args.num, args.batch_size), desc=f"{backend} {precision}", leave=False):
            batch = triples[b : b + args.batch_size]
            gens = [torch.Generator().manual_seed(b + i) for i in range(len(batch))]
            out = pipe([t[1] for t in batch], [t[2] for t in batch], num_images=len(batch), generator=gens,
                       precision=precision, output_type="np")  # fmt: skip
            images.append(to_uint8(out.images))
        images = np.concatenate(images)
        seconds = time.perf_counter() - start
        reference = images if reference is None else reference
        diff = np.abs(images.astype(np.float64) - reference.astype(np.float64))
        results[f"{backend} {precision}"] = {
            "fid": frechet_distance(inception_features(images), real_feats),
            "mean_abs_diff_to_reference": float(diff.mean()),
            "images_within_1_grey_level_mean": float((diff.mean(axis=(1, 2, 3)) <= 1.0).mean()),
            "seconds_per_image": seconds / args.num,
        }
    ref_fid = results["torch fp32"]["fid"]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"{cpu}, bf16 units: {cpu_supports_bf16()}, N = {args.num}, FID floor {floor:.1f}")
    for name, r in results.items():
        rel = r["fid"] / ref_fid - 1
        r["fid_vs_reference"] = rel
        verdict = "reference" if name == "torch fp32" else ("within 2%" if abs(rel) <= 0.02 else "NOT within 2%")
        print(f"{name:<14} FID {r['fid']:7.2f} ({rel:+.1%}, {verdict})  mean |Δ| {r['mean_abs_diff_to_reference']:.2f} "
              f"grey levels  {r['seconds_per_image']:.2f} s/image")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps({"cpu": cpu, "n": args.num, "fid_floor": floor, "results": results}))


if __name__ == "__main__":
    main()
