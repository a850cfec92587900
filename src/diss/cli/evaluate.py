"""`diss evaluate`: FID/KID against the real-vs-real floor, sketch F1, stroke error and the trade-off studies
(``diss.evaluate``)."""

from __future__ import annotations

from pathlib import Path

from diss.cli.args import config_from_args
from diss.evaluate.config import EvalConfig
from diss.evaluate.run import evaluate as run_evaluation


def evaluate(args) -> int:
    metrics = run_evaluation(config_from_args(EvalConfig, args), progress=not args.quiet)
    fid = f"FID {metrics['fid']:.2f} (floor {metrics['fid_floor']:.2f}, N={metrics['n']})" if "fid" in metrics else ""
    print(f"{fid} report: {Path(args.out) / 'report.md'}".strip())
    return 0
