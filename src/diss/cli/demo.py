"""`diss demo`: the three dials and local editing on the shipped models (``diss.demo``)."""

from __future__ import annotations

from pathlib import Path

from diss.cli.args import config_from_args
from diss.demo.config import DEMO_OUT, DemoConfig
from diss.demo.run import run_demo


def demo(args) -> int:
    if args.out == DEMO_OUT:
        Path(DEMO_OUT).parent.mkdir(exist_ok=True)
    paths = run_demo(config_from_args(DemoConfig, args), progress=not args.quiet)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
