"""`diss generate` and `diss edit`: images from drawings, one file or folders of them, in bounded batches
(``diss.batches``)."""

from __future__ import annotations

import sys

from tqdm import tqdm

from diss.batches import BatchConfig, generate_batches, pair_inputs
from diss.cli.args import config_from_args
from diss.loading import load_pipeline
from diss.outputs import output_dir, output_image


def run_batches(args) -> int:
    cfg = config_from_args(BatchConfig, args)
    cfg.check()
    pairs, many = pair_inputs(args.sketch, args.stroke, getattr(args, "image", None), getattr(args, "mask", None), _say)
    out = output_dir(args.out) if many else output_image(args.out)

    pipe = load_pipeline(args.model, args.backend, args.verbose)
    if args.compile:
        pipe.compile()
    one_call = len(pairs) == 1 and cfg.cells == cfg.num and args.num <= cfg.batch_size
    bar = tqdm(total=len(pairs) * cfg.cells, desc="generate", unit="img", disable=args.quiet or one_call)
    pipe.set_progress_bar_config(disable=args.quiet or not one_call, leave=False)  # the steps' bar: one call only
    wrote = None if many else lambda path: print(f"wrote {path}")
    done = generate_batches(pipe, pairs, many, out, cfg, _say, bar, wrote)
    bar.close()
    if many:
        print(f"wrote {done} image(s) to {out}")
    return 0 if done else 1


def _say(line: str) -> None:
    """A note or a skipped input: one line on stderr, above any progress bar."""
    tqdm.write(line, file=sys.stderr)


def generate(args) -> int:
    if not args.sketch and not args.stroke:
        print("note: neither --sketch nor --stroke given: generating unconditionally", file=sys.stderr)
    return run_batches(args)


def edit(args) -> int:
    return run_batches(args)
