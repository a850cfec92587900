"""Sampling speed: diss' pipeline vs the original DiSS procedure, same net, same machine, same run.

The original procedure, re-implemented here as its code runs: DDPM respaced to 250 steps, the three guidance branches
as three sequential U-Net calls per step, batch 1, fp32, contiguous memory. Ours: DiSSPipeline with its defaults (and
per sampler, the fewest steps whose FID stays within 5% of 250-step DDPM, read from the metrics.json of
``diss evaluate --studies steps``), one batched forward for the branches, bf16 autocast where the CPU has it,
channels_last. Medians of repeated runs; the speed-up ratios are printed last.

    diss evaluate --model pretrained/flowers-64 --data HELD_OUT --out report-steps --num 100 --studies steps --realism 1
    python benchmarks/sample_speed.py [--quality report-steps/metrics.json] [--also dpm++sde:20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from diffusers import DDPMScheduler

from diss import defaults
from diss.conventions import SHIPPED_MODEL, to_model
from diss.data.inputs import prepare_sketch, prepare_stroke
from diss.demo import load_example
from diss.model import model_input
from diss.pipeline import DiSSPipeline


@torch.no_grad()
def original_procedure(pipe: DiSSPipeline, sketch, stroke, steps: int = 250, seed: int = 0) -> torch.Tensor:
    """One image as the original code makes it: DDPM (respaced), three sequential U-Net calls per step, fp32."""
    unet = pipe.unet.to(memory_format=torch.contiguous_format)
    size = pipe.size
    sk = to_model(prepare_sketch(sketch, size))[None]  # (1, 1, S, S)
    st = to_model(prepare_stroke(stroke, size))[None]  # (1, 3, S, S)
    phi_sk, phi_st = torch.zeros_like(sk), torch.zeros_like(st)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((1, 3, size, size), generator=g)
    s_sk, s_st = defaults.SKETCH_GUIDANCE_SCALE, defaults.STROKE_GUIDANCE_SCALE
    for t in scheduler.timesteps:
        tt = t.reshape(1)
        e_u = unet(model_input(x, phi_sk, phi_st), tt).sample
        e_sk = unet(model_input(x, sk, phi_st), tt).sample
        e_st = unet(model_input(x, phi_sk, st), tt).sample
        eps = e_u + s_sk * (e_sk - e_u) + s_st * (e_st - e_u)
        x = scheduler.step(eps, t, x, generator=g).prev_sample
    pipe.unet.to(memory_format=torch.channels_last)
    return x


def timed(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` runs (single runs on a shared 2-core machine vary by ±30%)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def equal_quality_settings(path: str | None) -> dict[str, tuple[str, int]]:
    """Per sampler, the fewest steps within 5% of DDPM 250's FID, from diss evaluate's metrics.json."""
    if not path:
        return {}
    eq = json.loads(Path(path).read_text(encoding="utf-8")).get("equal_quality", {})
    return {
        f"ours, {sampler} {steps} (FID within 5% of DDPM 250)": (sampler, steps)
        for sampler, steps in eq.items()
        if sampler in defaults.SAMPLERS and steps and [sampler, steps] != eq.get("reference")
    }


def sampler_steps(text: str) -> tuple[str, int]:
    name, _, steps = text.partition(":")
    if name not in defaults.SAMPLERS or not steps.isdigit():
        raise argparse.ArgumentTypeError(f"write NAME:STEPS with NAME one of {', '.join(defaults.SAMPLERS)}")
    return name, int(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--images", type=int, default=4, help="images per batched setting of ours")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting of ours; the median is reported")
    parser.add_argument("--original-images", type=int, default=1)
    parser.add_argument("--quality", metavar="METRICS_JSON", help="metrics.json of diss evaluate --studies steps")
    parser.add_argument("--also", type=sampler_steps, nargs="*", default=[], metavar="NAME:STEPS",
                        help="more sampler settings to time, e.g. dpm++sde:20")  # fmt: skip
    args = parser.parse_args()
    pipe = DiSSPipeline.from_pretrained(args.model)
    sketch, stroke = load_example("daisy")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, {pipe.size}px")

    def ours(n: int, **kw):
        gens = [torch.Generator().manual_seed(i) for i in range(n)]
        return lambda: pipe(sketch, stroke, num_images=n, generator=gens, output_type="np", progress=False, **kw)

    ours(1, num_inference_steps=2)()  # warm-up
    default = f"{defaults.SAMPLER} {defaults.STEPS}"
    settings = {
        f"ours, defaults ({default}, realism 1), batch 1": (ours(1), 1),
        f"ours, defaults, batch {args.images}": (ours(args.images), args.images),
    }
    settings["ours, DDPM 250 (the original's sampler and quality), batch 1"] = (
        ours(1, sampler="ddpm", num_inference_steps=250),
        1,
    )
    extra = {f"ours, {sampler} {steps}": (sampler, steps) for sampler, steps in args.also}
    for name, (sampler, steps) in {**equal_quality_settings(args.quality), **extra}.items():
        settings[name + ", batch 1"] = (ours(1, sampler=sampler, num_inference_steps=steps), 1)
        settings[f"{name}, batch {args.images}"] = (ours(args.images, sampler=sampler, num_inference_steps=steps),
                                                     args.images)  # fmt: skip
    per_image = {}
    for name, (fn, n) in settings.items():
        per_image[name] = timed(fn, args.repeats) / n
        print(f"{name:<64} {per_image[name]:7.2f} s/image  {1 / per_image[name]:6.2f} img/s")
    original = statistics.median(
        timed(lambda i=i: original_procedure(pipe, sketch, stroke, seed=i), 1) for i in range(args.original_images)
    )
    print(f"{'original: DDPM 250, 3 sequential calls, fp32, batch 1':<64} {original:7.2f} s/image")
    for name, t in per_image.items():
        print(f"speed-up vs original, {name}: {original / t:.1f}x")


if __name__ == "__main__":
    main()
