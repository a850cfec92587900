"""Memory of generation on CPU: peak RSS at 64 and 128 px, and at 256 px through the shipped cascade (base +
upsampler) where the shipped folder has one (each in a fresh process), and RSS over 100 generations in one process
(does it grow?).

    python benchmarks/memory.py [--generations 100] [--steps 10]

64 px: the shipped model. 128 px: the same architecture (base preset) built at 128 px with seeded random weights:
memory depends on the shapes, not on the weights' values. Peak RSS is the kernel's high-water mark (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def rss_mib() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load(size: int):
    import torch

    from diss.folder import SHIPPED_MODEL
    from diss.pipeline import DiSSPipeline

    if size in (64, 256):  # 256: the shipped cascade's output
        return DiSSPipeline.from_pretrained(SHIPPED_MODEL)
    from diss.model import build_unet, preset
    from diss.schedulers import make_sampler

    torch.manual_seed(0)
    unet = build_unet(preset("base"), size).eval().to(memory_format=torch.channels_last)
    return DiSSPipeline(unet=unet, scheduler=make_sampler())


def child(size: int, generations: int, steps: int, batch: int) -> dict:
    """One process: load, then ``generations`` calls; RSS after loading, after each call, and the peak."""
    import torch

    from diss.folder import load_example

    start = rss_mib()
    pipe = load(size)
    pipe.set_progress_bar_config(disable=True)
    loaded = rss_mib()
    sketch, stroke = load_example("daisy")
    after = []
    for i in range(generations):
        g = [torch.Generator().manual_seed(i * batch + j) for j in range(batch)]
        pipe(sketch, stroke, num_images=batch, generator=g, num_inference_steps=steps, sampler="dpm++",
             output_size=size, output_type="np")  # fmt: skip
        after.append(rss_mib())
    return {"size": size, "batch": batch, "start": start, "loaded": loaded, "after": after, "peak": peak_mib()}


def run_child(*args) -> dict:
    cmd = [sys.executable, __file__, "--child", *map(str, args)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", nargs=4, type=int, metavar=("SIZE", "N", "STEPS", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    print("| size | batch | RSS after imports | after loading | peak during generation | peak − loaded |")
    print("| --- | --- | --- | --- | --- | --- |")
    from diss.folder import SHIPPED_MODEL

    cascade = (SHIPPED_MODEL / "upsampler").is_dir()
    for size in (64, 128, 256) if cascade else (64, 128):
        for batch in (1, 4):
            r = run_child(size, 1, args.steps, batch)
            print(f"| {size} px | {batch} | {r['start']:.0f} MiB | {r['loaded']:.0f} MiB | {r['peak']:.0f} MiB | "
                  f"{r['peak'] - r['loaded']:.0f} MiB |")  # fmt: skip
    r = run_child(64, args.generations, args.steps, 1)
    a = r["after"]
    tenth = a[min(9, len(a) - 1)]
    slope = (a[-1] - tenth) / max(len(a) - 10, 1) * 1024  # KiB per generation after warm-up
    print(f"\n{args.generations} generations at 64 px ({args.steps} DPM-Solver++ steps each) in one process: RSS after "
          f"the 1st {a[0]:.1f} MiB, 10th {tenth:.1f} MiB, last {a[-1]:.1f} MiB; growth after the 10th: "
          f"{a[-1] - tenth:+.1f} MiB ({slope:+.1f} KiB per generation); peak {r['peak']:.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
