"""Guided sampling throughput (images/s) on a GPU: eager vs torch.compile modes, several batch sizes, through
the full pipeline (three guidance branches in one batched forward, realism 1, channels_last).

    python benchmarks/gpu_sample_speed.py [--model DIR] [--batches 256 1024] [--sampler ddim] [--steps 20]
        [--modes eager eager+bf16 default+bf16 max-autotune-no-cudagraphs+bf16] [--json OUT.json]

A mode is ``eager`` or a torch.compile mode (``default``, ``max-autotune-no-cudagraphs``, ``reduce-overhead``), with
``+bf16`` for a U-Net cast to bf16 (plain bf16, no autocast) instead of fp32 weights under bf16 autocast.

Without CUDA it runs on the CPU as a dry run of the script (use small --batches and --modes eager).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from diss import defaults
from diss.folder import SHIPPED_MODEL, load_example
from diss.pipeline import DiSSPipeline


def images_per_second(pipe, sketch, stroke, n: int, sampler: str, steps: int, repeats: int) -> float:
    def run():
        pipe(sketch, stroke, num_images=n, sampler=sampler, num_inference_steps=steps, output_type="pt",
             generator=torch.Generator().manual_seed(0))  # fmt: skip

    run()  # warm-up (and compilation for this batch size)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return n * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--sampler", default=defaults.SAMPLER)
    parser.add_argument("--steps", type=int, default=defaults.STEPS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["eager", "eager+bf16", "default+bf16"])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    sketch, stroke = load_example("daisy")
    print(f"{device}: {torch.cuda.get_device_name() if device == 'cuda' else 'CPU'}, torch {torch.__version__}; "
          f"{args.sampler} {args.steps} steps, realism {defaults.REALISM}, scales "
          f"{defaults.SKETCH_GUIDANCE_SCALE}/{defaults.STROKE_GUIDANCE_SCALE}")  # fmt: skip
    results = []
    for mode in args.modes:
        compile_mode, _, dtype = mode.partition("+")
        pipe = DiSSPipeline.from_pretrained(args.model).to(device)
        pipe.set_progress_bar_config(disable=True)
        if dtype:
            pipe = pipe.to(dtype=getattr(torch, {"bf16": "bfloat16", "fp16": "float16"}[dtype]))
        pipe.unet.to(memory_format=torch.channels_last)
        if compile_mode != "eager":
            pipe.compile(compile_mode)  # the product's path (diss generate --compile)
        for n in args.batches:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            rate = images_per_second(pipe, sketch, stroke, n, args.sampler, args.steps, args.repeats)
            wall = time.perf_counter() - start
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
            results.append({"mode": mode, "batch": n, "img_per_s": rate, "wall_s": wall, "peak_gib": peak})
            print(f"{mode:<28} batch {n:5d}: {rate:8.1f} img/s  (peak {peak:.1f} GiB, {wall:.0f} s with warm-up)")
    best = max(results, key=lambda r: r["img_per_s"])
    eager = max((r["img_per_s"] for r in results if r["mode"] == "eager"), default=np.nan)  # fp32 weights, autocast
    rate = best["img_per_s"]
    print(f"best: {best['mode']} at batch {best['batch']}: {rate:.1f} img/s ({rate / eager:.2f}x eager's best; "
          f"{rate / 200:.2f}x the 200 img/s target)")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": device, "sampler": args.sampler, "steps": args.steps, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
