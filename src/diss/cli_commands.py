"""The bodies of the ``diss`` commands: each takes the parsed arguments, calls the library and prints what it made.

Each imports what its command needs when it runs (torch, diffusers, gradio…), never at the import of this module:
``diss --help`` and an argument error answer at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from diss.app_config import AppConfig
from diss.cli_args import config_from_args
from diss.data.options import ExtractOptions, PrepareOptions
from diss.demo_config import DEMO_OUT, DemoConfig
from diss.errors import DissError
from diss.evaluate_config import EvalConfig
from diss.train_config import TrainConfig


def cmd_prepare(args) -> int:
    from diss.data.cache import prepare, sample_cache
    from diss.data.images import save_image
    from diss.grid import make_grid
    from diss.outputs import output_image

    src = Path(args.src)
    if not src.is_dir():
        raise DissError(f"source folder {src} does not exist or is not a folder")
    options = config_from_args(PrepareOptions, args)
    preview = output_image(options.preview) if options.preview else None
    out = Path(args.out)
    report = prepare(src, out, options.prepare_config(), workers=options.workers, overwrite=options.overwrite,
                     progress=not options.quiet)  # fmt: skip
    print(report.summary())
    if preview is not None:
        rows = [[image, sk, st] for _, image, sk, st in sample_cache(out, options.preview_rows)]
        if rows:
            save_image(make_grid(rows, col_labels=["photo", "sketch", "stroke"]), preview)
            print(f"preview: {preview}")
    print(f"cache: {out}")
    return 0


def cmd_extract(args) -> int:
    from diss.data.cache import item_seed
    from diss.data.images import ImageLoadError, center_square, find_images, load_image, resize, save_image, save_png
    from diss.data.sketch import extract_sketch
    from diss.data.stroke import extract_stroke
    from diss.outputs import output_dir, output_image

    options = config_from_args(ExtractOptions, args)
    if not options.sketch_out and not options.stroke_out:
        raise DissError("nothing to do: give --sketch-out and/or --stroke-out")
    src = Path(args.input)
    if not src.exists():
        raise DissError(f"input {src} does not exist")
    sketch_cfg, stroke_cfg = options.extractors()
    if src.is_dir():
        files = find_images(src)
        if not files:
            raise DissError(f"no image files under {src}")
        outs = [output_dir(p) if p else None for p in (options.sketch_out, options.stroke_out)]
        jobs = [(f, f.relative_to(src).with_suffix(".png")) for f in files]
    else:
        outs = [output_image(p) if p else None for p in (options.sketch_out, options.stroke_out)]
        jobs = [(src, None)]
    from tqdm import tqdm

    written, skipped = 0, 0
    for path, rel in tqdm(jobs, desc="extract", unit="img", disable=len(jobs) == 1 or options.quiet):
        try:
            rgb = load_image(path)
        except ImageLoadError as e:
            if rel is None:
                raise DissError(str(e)) from None
            print(f"skipped {e}", file=sys.stderr)
            skipped += 1
            continue
        work = resize(center_square(rgb), 2 * options.size)
        results = (
            extract_sketch(work, options.size, sketch_cfg) if outs[0] else None,
            extract_stroke(work, options.size, stroke_cfg, item_seed(options.seed, str(rel or path.name)))
            if outs[1]
            else None,
        )
        for out, result in zip(outs, results, strict=False):
            if out is None:
                continue
            if rel is None:
                save_image(result, out)  # in the format its name says
            else:
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                save_png(result, out / rel)
        written += 1
    print(f"extracted {written} image(s)" + (f", skipped {skipped} unreadable" if skipped else ""))
    return 0 if written else 1


def cmd_train(args) -> int:
    from diss.train import train

    train(config_from_args(TrainConfig, args), resume=args.resume, progress=not args.quiet)
    return 0


def cmd_export(args) -> int:
    import torch

    from diss.export import export_pipeline
    from diss.outputs import output_file

    output_file(Path(args.out) / "model_index.json") if Path(args.out).exists() else output_file(args.out)
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    path = export_pipeline(args.run, args.out, dtype=dtype, base=args.base, domain=args.domain, steps=args.steps)
    print(f"model: {path}")
    return 0


def _generate(args) -> int:
    from diss.batches import BatchConfig, pair_inputs
    from diss.outputs import output_dir, output_image

    cfg = config_from_args(BatchConfig, args)
    cfg.check()
    pairs, many = pair_inputs(args.sketch, args.stroke, getattr(args, "image", None), getattr(args, "mask", None), _say)
    out = output_dir(args.out) if many else output_image(args.out)
    from tqdm import tqdm  # only now: every check above answers at once

    from diss.batches import generate_batches
    from diss.loading import load_pipeline

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
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def cmd_generate(args) -> int:
    if not args.sketch and not args.stroke:
        print("note: neither --sketch nor --stroke given: generating unconditionally", file=sys.stderr)
    return _generate(args)


def cmd_edit(args) -> int:
    return _generate(args)


def cmd_app(args) -> int:
    from diss.errors import require

    require("gradio", "app", "diss app")
    from diss.app_layout import launch

    if not (args.max_upload_mb > 0 and args.timeout_s > 0):
        raise DissError("--max-upload-mb and --timeout must be positive")
    config = config_from_args(AppConfig, args)
    print(f"diss app on http://{config.host}:{config.port} (Ctrl-C to stop)")
    try:
        launch(config)
    except OSError as e:
        where = f"{config.host}:{config.port}"
        raise DissError(f"cannot listen on {where} ({e.strerror or e}); choose another --port") from None
    return 0


def cmd_demo(args) -> int:
    from diss.demo import run_demo

    if args.out == DEMO_OUT:
        Path(DEMO_OUT).parent.mkdir(exist_ok=True)
    paths = run_demo(config_from_args(DemoConfig, args), progress=not args.quiet)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def cmd_evaluate(args) -> int:
    if not Path(args.data).is_dir():  # before the (slow) import: a typo answers at once
        raise DissError(f"photo folder {args.data} does not exist")
    from diss.evaluate import evaluate

    metrics = evaluate(config_from_args(EvalConfig, args), progress=not args.quiet)
    fid = f"FID {metrics['fid']:.2f} (floor {metrics['fid_floor']:.2f}, N={metrics['n']})" if "fid" in metrics else ""
    print(f"{fid} report: {Path(args.out) / 'report.md'}".strip())
    return 0
