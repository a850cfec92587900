"""Sampling speed: diss' pipeline on each backend vs the original DiSS procedure, same net, same machine, same run.

The original procedure, re-implemented here as its code runs: DDPM respaced to 250 steps, the three guidance branches
as three sequential U-Net calls per step, batch 1, fp32 PyTorch, contiguous memory. Its steps all cost the same (one
U-Net call each per branch), so ``--original-steps`` of them are timed and scaled to 250 (all 250 with
``--original-steps 250``); the line says which. Ours: DiSSPipeline with its defaults on each backend (PyTorch with
bf16 autocast where the CPU has bf16 units, OpenVINO, and what "auto" picks), plus the app's live preview, and with
``--student`` the distilled student's fast mode and one-step preview beside them (an untrained one, built from the
teacher, where the folder has none: the time does not depend on the weights); per sampler
the fewest steps whose FID stays within 5% of 250-step DDPM with ``--quality``. The settings take turns, round after
round, so a busy stretch of the machine slows them all alike; medians are reported, the speed-ups last.

    python benchmarks/sample_speed.py [--quality report-steps/metrics.json] [--also dpm++sde:20] [--repeats 3]

About 3 minutes on 2 AVX2 cores with the defaults.
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
from diss.backend import openvino_version, precision_hint
from diss.conventions import to_model
from diss.data.inputs import prepare_sketch, prepare_stroke
from diss.folder import SHIPPED_MODEL, load_example, model_domain
from diss.model import model_input
from diss.pipeline import DiSSPipeline
from diss.runtime import Runtime

ORIGINAL_STEPS = 250
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_description() -> str:
    """The CPU's model name and the ISA flags that decide the kernels (bf16 units or not)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((set(line.split(":", 1)[1].split()) for line in info.splitlines() if line.startswith("flags")), set())
    return f"{name}; flags: {' '.join(f for f in ISA_FLAGS if f in flags) or 'none of ' + ', '.join(ISA_FLAGS)}"


@torch.no_grad()
def original_procedure(pipe: DiSSPipeline, sketch, stroke, steps: int, seed: int = 0) -> torch.Tensor:
    """The first ``steps`` of the 250 of one image as the original code makes it: DDPM (respaced), three sequential
    U-Net calls per step, fp32 PyTorch."""
    unet = pipe.unet.to(memory_format=torch.contiguous_format)
    size = pipe.size
    sk = to_model(prepare_sketch(sketch, size))[None]  # (1, 1, S, S)
    st = to_model(prepare_stroke(stroke, size))[None]  # (1, 3, S, S)
    phi_sk, phi_st = torch.zeros_like(sk), torch.zeros_like(st)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(ORIGINAL_STEPS)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((1, 3, size, size), generator=g)
    s_sk, s_st = defaults.SKETCH_GUIDANCE_SCALE, defaults.STROKE_GUIDANCE_SCALE
    for t in scheduler.timesteps[:steps]:
        tt = t.reshape(1)
        e_u = unet(model_input(x, phi_sk, phi_st), tt).sample
        e_sk = unet(model_input(x, sk, phi_st), tt).sample
        e_st = unet(model_input(x, phi_sk, st), tt).sample
        eps = e_u + s_sk * (e_sk - e_u) + s_st * (e_st - e_u)
        x = scheduler.step(eps, t, x, generator=g).prev_sample
    pipe.unet.to(memory_format=torch.channels_last)
    return x


def equal_quality_settings(path: str | None) -> dict[str, tuple[str, int]]:
    """Per sampler, the fewest steps within 5% of DDPM 250's FID, from diss evaluate's metrics.json."""
    if not path:
        return {}
    eq = json.loads(Path(path).read_text(encoding="utf-8")).get("equal_quality", {})
    return {
        f"{sampler} {steps} (FID within 5% of DDPM 250)": (sampler, steps)
        for sampler, steps in eq.items()
        if sampler in defaults.SAMPLERS and steps and [sampler, steps] != eq.get("reference")
    }


def sampler_steps(text: str) -> tuple[str, int]:
    name, _, steps = text.partition(":")
    if name not in defaults.SAMPLERS or not steps.isdigit():
        raise argparse.ArgumentTypeError(f"write NAME:STEPS with NAME one of {', '.join(defaults.SAMPLERS)}")
    return name, int(steps)


def preview_steps() -> int | None:
    """The app's live-preview step count (None where the app's module cannot be imported)."""
    try:
        from diss.app.preview import PREVIEW_STEPS
    except ImportError:
        return None
    return int(PREVIEW_STEPS)


def add_students(pipes: dict) -> None:
    """A student for each pipeline whose folder has none: the teacher's weights widened (``student_from_teacher``),
    untrained, for timing only; the backends set again so that OpenVINO compiles it too."""
    from diss.student import student_from_teacher

    for backend, pipe in pipes.items():
        if pipe.student is None:
            student = student_from_teacher(pipe.unet).eval().to(memory_format=torch.channels_last)
            pipe.register_modules(student=student)
            pipe.diss_meta["student"] = {"steps": list(defaults.STUDENT_STEP_COUNTS)}
            pipe.set_backend(backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--images", type=int, default=4, help="images per batched setting of ours")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the settings; medians are reported")
    parser.add_argument("--original-steps", type=int, default=25, metavar="N",
                        help=f"steps of the original's {ORIGINAL_STEPS} timed, then scaled (default 25)")  # fmt: skip
    parser.add_argument("--quality", metavar="METRICS_JSON", help="metrics.json of diss evaluate --studies steps")
    parser.add_argument("--also", type=sampler_steps, nargs="*", default=[], metavar="NAME:STEPS",
                        help="more sampler settings to time, e.g. dpm++sde:20")  # fmt: skip
    parser.add_argument("--upsampler-preset", metavar="NAME", help="time the cascade with an untrained upsampler of "
                        "this preset where the model has none (the time does not depend on the weights)")  # fmt: skip
    parser.add_argument("--student", action="store_true", help="also time the folder's distilled student (fast mode "
                        "and its one-step preview); an untrained one where the folder has none")  # fmt: skip
    args = parser.parse_args()
    if not 1 <= args.original_steps <= ORIGINAL_STEPS:
        parser.error(f"--original-steps must be 1 to {ORIGINAL_STEPS}")
    sketch, stroke = load_example(model_domain(args.model).sweep)  # the demo's sweep drawing of the model's domain
    pipes = {"torch": DiSSPipeline.from_pretrained(args.model).set_backend("torch")}
    pipes["torch"].set_progress_bar_config(disable=True)
    auto = Runtime(torch.device("cpu")).backend()
    if openvino_version() is not None:
        start = time.perf_counter()
        pipes["openvino"] = DiSSPipeline.from_pretrained(args.model).set_backend("openvino")
        pipes["openvino"].set_progress_bar_config(disable=True)
        print(f"{pipes['openvino'].backend_note} in {time.perf_counter() - start:.1f} s")
    if args.upsampler_preset:
        from diss.upsampler import build_upsampler, make_upsampler_scheduler, upsampler_preset

        for pipe in pipes.values():
            if pipe.upsampler is None:
                torch.manual_seed(0)
                net = (
                    build_upsampler(upsampler_preset(args.upsampler_preset))
                    .eval()
                    .to(memory_format=torch.channels_last)
                )
                pipe.register_modules(upsampler=net, upsampler_scheduler=make_upsampler_scheduler())
    if args.student:
        add_students(pipes)
    print(cpu_description())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; openvino {openvino_version() or 'absent'}; "
          f"precision {precision_hint()}; auto picks {auto}; model {args.model}, {pipes['torch'].size} px")  # fmt: skip

    def ours(backend: str, n: int, **kw):
        gens = [torch.Generator().manual_seed(i) for i in range(n)]
        pipe = pipes[backend]
        return lambda: pipe(sketch, stroke, num_images=n, generator=gens, output_type="np", **kw)

    default = (f"{defaults.SAMPLER} {pipes['torch'].default_steps}, realism {defaults.REALISM:g}, guided steps "
               f"{defaults.GUIDANCE_START:g}–{defaults.GUIDANCE_END:g}")  # fmt: skip
    base = pipes["torch"].size
    settings: dict[str, tuple] = {}
    for backend in pipes:
        settings[f"{backend}: defaults ({default}), {base} px, batch 1"] = (ours(backend, 1, output_size=base), 1)
        settings[f"{backend}: defaults, {base} px, batch {args.images}"] = (
            ours(backend, args.images, output_size=base),
            args.images,
        )
        if (defaults.GUIDANCE_START, defaults.GUIDANCE_END) != (0.0, 1.0):
            settings[f"{backend}: every step guided, {base} px, batch 1"] = (
                ours(backend, 1, output_size=base, guidance_start=0.0, guidance_end=1.0),
                1,
            )
        if pipes[backend].upsampler is not None:
            big = pipes[backend].output_sizes[-1]
            settings[
                f"{backend}: defaults, {big} px (cascade, {defaults.UPSAMPLER_STEPS} upsampler steps), batch 1"
            ] = (
                ours(backend, 1, output_size=big),
                1,
            )
        if preview_steps():
            settings[f"{backend}: app preview ({preview_steps()} steps), batch 1"] = (
                ours(backend, 1, num_inference_steps=preview_steps(), output_size=base),
                1,
            )
        if pipes[backend].student is not None:
            settings[f"{backend}: fast (student, {defaults.STUDENT_STEPS} steps), {base} px, batch 1"] = (
                ours(backend, 1, fast=True, output_size=base), 1)  # fmt: skip
            settings[f"{backend}: app preview (student, 1 step), batch 1"] = (
                ours(backend, 1, fast=True, num_inference_steps=1, output_size=base), 1)  # fmt: skip
        extra = {f"{sampler} {steps}": (sampler, steps) for sampler, steps in args.also}
        for name, (sampler, steps) in {**equal_quality_settings(args.quality), **extra}.items():
            settings[f"{backend}: {name}, batch 1"] = (ours(backend, 1, sampler=sampler, num_inference_steps=steps), 1)
    for fn, _ in settings.values():
        fn()  # warm-up: first-call allocations and OpenVINO's first inference
    times: dict[str, list[float]] = {name: [] for name in settings}
    original: list[float] = []
    for r in range(args.repeats):
        for name, (fn, n) in settings.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) / n)
        if r < max(1, args.repeats // 3):  # the slow original: a third of the rounds
            start = time.perf_counter()
            original_procedure(pipes["torch"], sketch, stroke, args.original_steps, seed=r)
            original.append((time.perf_counter() - start) * ORIGINAL_STEPS / args.original_steps)
    per_image = {name: statistics.median(t) for name, t in times.items()}
    for name, t in per_image.items():
        print(f"{name:<64} {t:7.2f} s/image  {1 / t:6.2f} img/s")
    scaled = "" if args.original_steps == ORIGINAL_STEPS else f", {args.original_steps} steps timed and scaled"
    original_s = statistics.median(original)
    print(f"{f'original: DDPM 250, 3 sequential calls, fp32, batch 1{scaled}':<64} {original_s:7.2f} s/image")
    if "openvino" in pipes:
        for name, t in per_image.items():
            if name.startswith("openvino: "):
                twin = "torch: " + name.removeprefix("openvino: ")
                print(f"openvino vs torch, {name.removeprefix('openvino: ')}: {per_image[twin] / t:.2f}x")
    for name, t in per_image.items():
        print(f"speed-up vs original, {name}: {original_s / t:.1f}x")
    for name, t in per_image.items():  # fast mode against the defaults, on the same backend and machine
        if ": fast (student" in name or ": app preview (student" in name:
            backend = name.split(":", 1)[0]
            teacher = next(k for k in per_image if k.startswith(f"{backend}: defaults (") and k.endswith("batch 1"))
            print(f"{backend}: {name.split(': ', 1)[1]} vs the defaults: {per_image[teacher] / t:.1f}x faster")


if __name__ == "__main__":
    main()
