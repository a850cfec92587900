"""`diss train` and `diss export`: a training run on a cache (``diss.train``), and its EMA weights → a model
folder."""

from __future__ import annotations

from pathlib import Path

import torch

from diss.cli.args import config_from_args
from diss.outputs import output_file
from diss.train.config import TrainConfig
from diss.train.export import export_pipeline
from diss.train.loop import train as train_run


def train(args) -> int:
    train_run(config_from_args(TrainConfig, args), resume=args.resume, progress=not args.quiet)
    return 0


def export(args) -> int:
    output_file(Path(args.out) / "model_index.json") if Path(args.out).exists() else output_file(args.out)
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    path = export_pipeline(args.run, args.out, dtype=dtype, base=args.base, domain=args.domain, steps=args.steps,
                           fast_default=args.fast_default)  # fmt: skip
    print(f"model: {path}")
    return 0
