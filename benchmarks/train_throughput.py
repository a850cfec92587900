"""Training throughput (images/s) of each model preset, fp32 and bf16 autocast side by side, in one run.

    python benchmarks/train_throughput.py [--presets tiny small base] [--size 64] [--batch 32] [--steps 6] [--compile]
    python benchmarks/train_throughput.py --presets base26 --channels 64 128 256 256 --batch 256 --compile  # 26M
    python benchmarks/train_throughput.py ... --dtypes bf16 --optimizers foreach fused  # AdamW flavours side by side

Times the real training step of diss (forward on concat(x_t, sketch, stroke), L_simple, backward, AdamW, EMA-free)
on random tensors, after warm-up steps, on CUDA if present, else the CPU (channels_last in both cases).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from diss.diffusion import make_scheduler, q_sample, training_loss
from diss.model import ModelConfig, build_unet, count_parameters, model_input, preset
from diss.runtime import cpu_supports_bf16


def model_config(name: str, channels: list[int] | None) -> ModelConfig:
    """A preset, or base with other channels (64 128 256 256: a 26M net, the size of the project's reference)."""
    if not channels:
        return preset(name)
    attention = tuple(i == len(channels) - 1 for i in range(len(channels)))
    return dataclasses.replace(preset("base"), preset=name, block_out_channels=tuple(channels), attention=attention)


def step_rates(
    config: ModelConfig,
    size: int,
    batch: int,
    steps: int,
    dtype: torch.dtype | None,
    device: str,
    compile_: bool,
    optimizers: list[str],
) -> dict[str, float]:
    """Images/s of one training step with each optimizer flavour ("foreach", or "fused": one CUDA kernel), all on
    the same (compiled once) model."""
    torch.manual_seed(0)
    unet = build_unet(config, size).to(device, memory_format=torch.channels_last)
    model = torch.compile(unet) if compile_ else unet
    sched = make_scheduler()
    cl = torch.channels_last
    x0 = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=cl)
    sketch = torch.randn(batch, 1, size, size, device=device).contiguous(memory_format=cl)
    stroke = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=cl)
    rates = {}
    for name in optimizers:
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-4, **{name: True})

        def one(opt=opt):
            noise = torch.randn_like(x0)
            t = torch.randint(0, 1000, (batch,), device=device)
            x_t = q_sample(sched, x0, noise, t)
            with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
                out = model(model_input(x_t, sketch, stroke), t).sample
            loss, _ = training_loss(sched, out, x0, x_t, t, noise)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        for _ in range(2):
            one()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            one()
        if device == "cuda":
            torch.cuda.synchronize()
        rates[name] = batch * steps / (time.perf_counter() - t0)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--channels", type=int, nargs="+", help="the base preset with these channels (name: --presets)")
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--optimizers", nargs="+", default=["foreach"], choices=["foreach", "fused"],
                    help="AdamW flavours, timed one after the other on the same model")  # fmt: skip
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = torch.cuda.is_bf16_supported() if device == "cuda" else cpu_supports_bf16()
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 native: {bf16}, "
        f"{args.size}px, batch {args.batch}, {args.steps} timed steps, compile {args.compile}"
    )
    for name in args.presets:
        config = model_config(name, args.channels)
        params = count_parameters(build_unet(config, args.size)) / 1e6
        rates = {}
        for d in args.dtypes:
            if d == "bf16" and not bf16:
                continue
            dtype = torch.bfloat16 if d == "bf16" else None
            for opt, r in step_rates(
                config, args.size, args.batch, args.steps, dtype, device, args.compile, args.optimizers
            ).items():
                rates[f"{d} {opt}"] = r
        parts = ", ".join(f"{k} {v:8.1f} img/s" for k, v in rates.items())
        if "fp32 foreach" in rates and "bf16 foreach" in rates:
            parts += f", bf16/fp32 {rates['bf16 foreach'] / rates['fp32 foreach']:.2f}x"
        best = max(rates.values())
        steps_h = 3600 * best / args.batch
        print(f"{name:6s} {params:5.1f}M params: {parts}  ({steps_h:,.0f} steps/h at batch {args.batch})")


if __name__ == "__main__":
    main()
