"""The ``diss`` command line: parses arguments, calls the library, prints one clear line on error."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from pathlib import Path

from diss import __version__, defaults
from diss.batches import SWEEPABLE
from diss.errors import DissError

MODEL_HELP = "a shipped model (flowers) or a folder from diss export (default: flowers)"


class _Parser(argparse.ArgumentParser):
    """argparse with diss' error style: one line naming what was wrong and where to look, exit code 2."""

    def error(self, message: str):
        message = " ".join(message.split("\n"))  # one line, whatever the user typed
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _CommandParser(_Parser):
    """A command's parser: an argument it does not know is its error, pointing to its own help (``diss generate
    --help``), not to ``diss --help`` (where argparse would report it)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


MAX_STEPS = 10_000
COMPILE_HELP = "torch.compile the U-Net: for many images on a GPU (2.3x at batch 512 on an H100), ~30 s to start"


def _steps(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_STEPS:
        raise argparse.ArgumentTypeError(f"{text!r} steps is more than the {MAX_STEPS:,} a sampler can take")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is outside [0, 1]")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _add_extractor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sketch-detail",
        type=_unit_float,
        default=0.5,
        metavar="F",
        help="0 = main outlines only, 1 = many interior lines (default 0.5)",
    )
    p.add_argument(
        "--stroke-detail",
        type=_unit_float,
        default=0.5,
        metavar="F",
        help="0 = a few large brush strokes, 1 = many smaller ones (default 0.5)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the stroke painter (default 0)")


def _configs(args):
    from diss.data.sketch import SketchConfig
    from diss.data.stroke import StrokeConfig

    return SketchConfig(detail=args.sketch_detail), StrokeConfig(detail=args.stroke_detail)


def cmd_prepare(args) -> int:
    from diss.data.cache import PrepareConfig, prepare, sample_cache
    from diss.data.images import save_image
    from diss.grid import make_grid
    from diss.outputs import output_image

    src = Path(args.src)
    if not src.is_dir():
        raise DissError(f"source folder {src} does not exist or is not a folder")
    preview = output_image(args.preview) if args.preview else None
    sketch, stroke = _configs(args)
    config = PrepareConfig(
        size=args.size, seed=args.seed, sketch=sketch, stroke=stroke, allow_upscale=args.allow_upscale
    )
    out = Path(args.out)
    report = prepare(src, out, config, workers=args.workers, overwrite=args.overwrite, progress=not args.quiet)
    print(report.summary())
    if preview is not None:
        rows = [[image, sk, st] for _, image, sk, st in sample_cache(out, args.preview_rows)]
        if rows:
            save_image(make_grid(rows, col_labels=["photo", "sketch", "stroke"], cell=max(128, args.size)), preview)
            print(f"preview: {preview}")
    print(f"cache: {out}")
    return 0


def cmd_extract(args) -> int:
    from diss.data.cache import item_seed
    from diss.data.images import ImageLoadError, center_square, find_images, load_image, resize, save_image, save_png
    from diss.data.sketch import extract_sketch
    from diss.data.stroke import extract_stroke
    from diss.outputs import output_dir, output_image

    if not args.sketch_out and not args.stroke_out:
        raise DissError("nothing to do: give --sketch-out and/or --stroke-out")
    src = Path(args.input)
    if not src.exists():
        raise DissError(f"input {src} does not exist")
    sketch_cfg, stroke_cfg = _configs(args)
    if src.is_dir():
        files = find_images(src)
        if not files:
            raise DissError(f"no image files under {src}")
        outs = [output_dir(p) if p else None for p in (args.sketch_out, args.stroke_out)]
        jobs = [(f, f.relative_to(src).with_suffix(".png")) for f in files]
    else:
        outs = [output_image(p) if p else None for p in (args.sketch_out, args.stroke_out)]
        jobs = [(src, None)]
    from tqdm import tqdm

    written, skipped = 0, 0
    for path, rel in tqdm(jobs, desc="extract", unit="img", disable=len(jobs) == 1 or args.quiet):
        try:
            rgb = load_image(path)
        except ImageLoadError as e:
            if rel is None:
                raise DissError(str(e)) from None
            print(f"skipped {e}", file=sys.stderr)
            skipped += 1
            continue
        work = resize(center_square(rgb), 2 * args.size)
        results = (
            extract_sketch(work, args.size, sketch_cfg) if outs[0] else None,
            extract_stroke(work, args.size, stroke_cfg, item_seed(args.seed, str(rel or path.name)))
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
    from diss.train import TrainConfig, train

    fields = {f: getattr(args, f) for f in TrainConfig.__dataclass_fields__ if getattr(args, f, None) is not None}
    config = TrainConfig(**fields)
    train(config, resume=args.resume, progress=not args.quiet)
    return 0


def cmd_export(args) -> int:
    import torch

    from diss.outputs import output_file
    from diss.train import export_pipeline

    output_file(Path(args.out) / "model_index.json") if Path(args.out).exists() else output_file(args.out)
    path = export_pipeline(args.run, args.out, dtype=torch.float16 if args.dtype == "fp16" else torch.float32)
    print(f"model: {path}")
    return 0


def _scale_arg(text: str):
    """A guidance scale: a number in [0, MAX_GUIDANCE_SCALE], or the path of a grayscale map (white = 1, black = 0)."""
    try:
        value = float(text)
    except ValueError:
        if not Path(text).is_file():
            raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor an image file") from None
        return Path(text)
    if not 0.0 <= value <= defaults.MAX_GUIDANCE_SCALE:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is outside [0, {defaults.MAX_GUIDANCE_SCALE:g}]")
    return value


def _realism_arg(text: str):
    """A realism in [0, 1], or none/off."""
    return None if text.lower() in ("none", "off") else _unit_float(text)


def _sweep_arg(text: str):
    name, _, values = text.partition("=")
    if name not in SWEEPABLE or not values:
        raise argparse.ArgumentTypeError(f"--sweep takes NAME=V1,V2,... with NAME one of {', '.join(SWEEPABLE)}")
    try:
        parsed = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sweep values {values!r} must be numbers") from None
    if not parsed:
        raise argparse.ArgumentTypeError(f"--sweep {text!r} names no values; e.g. {name}=0,0.5,1")
    return name, parsed


def _load_pipeline(model, backend: str = defaults.BACKEND, verbose: bool = False):
    from diss.folder import resolve_model
    from diss.loading import load_pipeline

    return load_pipeline(resolve_model(model), backend=backend, verbose=verbose)


def _generate(args) -> int:
    from diss.batches import BatchConfig, pair_inputs
    from diss.outputs import output_dir, output_image

    cfg = BatchConfig(
        num=args.num,
        seed=args.seed,
        batch_size=args.batch_size,
        steps=args.steps,
        sampler=args.sampler,
        realism_mode=args.realism_mode,
        dials={
            "sketch_guidance_scale": args.sketch_scale,
            "stroke_guidance_scale": args.stroke_scale,
            "realism": args.realism,
        },
        sweep=args.sweep,
    )
    cfg.check()
    pairs, many = pair_inputs(args.sketch, args.stroke, getattr(args, "image", None), getattr(args, "mask", None), _say)
    out = output_dir(args.out) if many else output_image(args.out)
    from tqdm import tqdm  # only now: every check above answers at once

    from diss.batches import generate_batches

    pipe = _load_pipeline(args.model, args.backend, args.verbose)
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


def _add_backend_args(p: argparse.ArgumentParser, verbose: bool = True) -> None:
    p.add_argument(
        "--backend",
        default=defaults.BACKEND,
        choices=defaults.BACKENDS,
        help="where the U-Net runs: auto picks the faster one on this machine (default), torch is PyTorch (the "
        "reference), openvino is Intel's OpenVINO runtime (pip install openvino)",
    )
    if verbose:
        p.add_argument("--verbose", action="store_true", help="say which backend runs the U-Net, and why")


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sketch", metavar="S", help="sketch image or folder (dark lines on white, or white on black)")
    p.add_argument("--stroke", metavar="C", help="colour strokes image or folder (on white or transparent)")
    p.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    p.add_argument(
        "--sketch-scale",
        type=_scale_arg,
        default=defaults.SKETCH_GUIDANCE_SCALE,
        metavar="F|MAP",
        help="faithfulness to the sketch: a number ≥ 0 or a grayscale map image (default %(default)s)",
    )
    p.add_argument(
        "--stroke-scale",
        type=_scale_arg,
        default=defaults.STROKE_GUIDANCE_SCALE,
        metavar="F|MAP",
        help="faithfulness to the strokes: a number ≥ 0 or a grayscale map image (default %(default)s)",
    )
    p.add_argument(
        "--realism",
        type=_realism_arg,
        default=defaults.REALISM,
        metavar="F",
        help="0 = follow the drawing's colours/layout closely … 1 = most realistic (default %(default)s); none = off",
    )
    p.add_argument("--realism-mode", default=defaults.REALISM_MODE, choices=defaults.REALISM_MODES)
    p.add_argument("--sampler", default=defaults.SAMPLER, choices=defaults.SAMPLERS)
    p.add_argument("--steps", type=_steps, default=defaults.STEPS, help="sampling steps, 1 to 10,000")
    p.add_argument("--num", type=_positive_int, default=1, help="images per input (a grid when > 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", type=_sweep_arg, metavar="NAME=V1,V2", help="e.g. realism=0,0.5,1: a labelled grid")
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=8,
        metavar="N",
        help="images generated together, at most (default 8): memory stays flat whatever --num or the folder size; "
        "larger is faster on a GPU",
    )
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    _add_backend_args(p)
    p.add_argument(
        "--out",
        required=True,
        help="image file for file inputs (.png, .jpg, .webp, .bmp or .tif; a grid when --num > 1 or --sweep) or "
        "folder for folder inputs (one PNG per input)",
    )
    p.add_argument("--quiet", action="store_true")


def cmd_app(args) -> int:
    from diss.errors import require

    require("gradio", "app", "diss app")
    from diss.app import AppConfig
    from diss.app_layout import launch

    if not (args.max_upload_mb > 0 and args.timeout > 0):
        raise DissError("--max-upload-mb and --timeout must be positive")
    config = AppConfig(
        model=args.model,
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        max_queue=args.queue,
        timeout_s=args.timeout,
        backend=args.backend,
    )
    print(f"diss app on http://{args.host}:{args.port} (Ctrl-C to stop)")
    try:
        launch(config)
    except OSError as e:
        where = f"{args.host}:{args.port}"
        raise DissError(f"cannot listen on {where} ({e.strerror or e}); choose another --port") from None
    return 0


DEMO_OUT = "outputs/demo"


def cmd_demo(args) -> int:
    from diss.demo import demo_main

    if args.out == DEMO_OUT:
        Path(DEMO_OUT).parent.mkdir(exist_ok=True)
    return demo_main(args)


def cmd_evaluate(args) -> int:
    if not Path(args.data).is_dir():  # before the (slow) import: a typo answers at once
        raise DissError(f"photo folder {args.data} does not exist")
    from diss.evaluate import EvalConfig, evaluate

    cfg = EvalConfig(
        model=args.model,
        data=args.data,
        out=args.out,
        num=args.num,
        sampler=args.sampler,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        compile=args.compile,
        backend=args.backend,
        verbose=args.verbose,
        realism=args.realism,
        studies=tuple(args.studies),
        **({"step_values": tuple(args.step_values)} if args.step_values else {}),
        **({"step_samplers": tuple(args.step_samplers)} if args.step_samplers else {}),
    )
    metrics = evaluate(cfg, progress=not args.quiet)
    fid = f"FID {metrics['fid']:.2f} (floor {metrics['fid_floor']:.2f}, N={metrics['n']})" if "fid" in metrics else ""
    print(f"{fid} report: {Path(args.out) / 'report.md'}".strip())
    return 0


KINDS = {"positive": _positive_int, "unit": _unit_float, "finite": _finite_float, "int": int, None: str}


def _add_config_args(p: argparse.ArgumentParser, cls) -> None:
    """One flag per field of the config dataclass ``cls`` (its default, kind, help, choices: ``train_config.opt``)."""
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        if not meta.pop("cli", True):
            continue
        name = meta.pop("flag", "--" + f.name.replace("_", "-"))
        kind, text = meta.pop("kind", None), meta.pop("help", None)
        if f.default is dataclasses.MISSING:
            p.add_argument(name, dest=f.name, required=True, help=text, **meta)
        elif isinstance(f.default, bool):
            flag = name if not f.default else "--no-" + name[2:]
            p.add_argument(flag, dest=f.name, action="store_false" if f.default else "store_true", help=text)
        else:
            p.add_argument(name, dest=f.name, type=KINDS[kind], default=f.default, help=text, **meta)


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from diss.train_config import TrainConfig  # no torch: the parser is built at once

    _add_config_args(p, TrainConfig)
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    p.add_argument("--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="diss", description="Sketch + colour strokes → realistic images (DiSS).")
    parser.add_argument("--version", action="version", version=f"diss {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    p = sub.add_parser("prepare", help="extract sketch + strokes from a folder of photos into a training cache")
    p.add_argument("src", metavar="SRC_DIR", help="folder of photos (searched recursively; any common format)")
    p.add_argument("out", metavar="OUT_DIR", help="cache folder to create or resume")
    p.add_argument("--size", type=_positive_int, default=64, help="side of the square training images (default 64)")
    p.add_argument("--preview", metavar="PNG", help="write a grid of examples: photo | sketch | stroke")
    p.add_argument("--preview-rows", type=_positive_int, default=8, metavar="N")
    p.add_argument("--workers", type=_positive_int, default=None, help="processes (default: all cores)")
    p.add_argument("--allow-upscale", action="store_true", help="use photos smaller than --size (upscaled)")
    p.add_argument("--overwrite", action="store_true", help="rebuild a cache made with other settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_extractor_args(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("extract", help="sketch and/or strokes of one photo or a folder of photos, as PNG")
    p.add_argument("input", metavar="IMAGE_OR_DIR")
    p.add_argument("--sketch-out", metavar="PATH", help="PNG file (one image) or folder (a folder of images)")
    p.add_argument("--stroke-out", metavar="PATH", help="PNG file (one image) or folder (a folder of images)")
    p.add_argument("--size", type=_positive_int, default=128, help="side of the square outputs (default 128)")
    p.add_argument("--quiet", action="store_true")
    _add_extractor_args(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("train", help="train a model on a cache (accelerate: CPU, GPU, multi-GPU, multi-node)")
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="images from a sketch and/or colour strokes")
    _add_sampling_args(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("edit", help="regenerate the masked part of an image (white = regenerate)")
    p.add_argument("--image", required=True, metavar="I", help="image or folder to edit")
    p.add_argument("--mask", required=True, metavar="M", help="mask or folder: white = regenerate, black = keep")
    _add_sampling_args(p)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("demo", help="realism sweep, scale grid and local editing on the shipped model (offline)")
    p.add_argument("--out", default=DEMO_OUT, metavar="DIR", help="folder for the PNG grids (default %(default)s)")
    p.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    p.add_argument("--steps", type=_steps, default=defaults.STEPS, help="sampling steps (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    _add_backend_args(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("app", help="the drawing app in the browser (Gradio, offline, localhost)")
    p.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=_positive_int, default=7860)
    p.add_argument(
        "--max-upload-mb", type=_positive_float, default=10.0, metavar="MB", help="largest upload (default 10)"
    )
    p.add_argument("--queue", type=_positive_int, default=16, help="jobs that may wait (default 16)")
    p.add_argument(
        "--timeout", type=_positive_float, default=300.0, metavar="S", help="stop a job after S seconds (default 300)"
    )
    _add_backend_args(p, verbose=False)
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("evaluate", help="FID/KID, sketch F1, stroke error, trade-off studies, SDEdit baseline")
    p.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    p.add_argument("--data", required=True, metavar="IMAGES_DIR", help="held-out photos (2×N are read: N + floor)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR")
    p.add_argument("--num", type=_positive_int, default=64, help="photos evaluated (default 64)")
    p.add_argument("--sampler", default=defaults.SAMPLER, choices=defaults.SAMPLERS)
    p.add_argument("--steps", type=_steps, default=defaults.STEPS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=_positive_int, default=16)
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    _add_backend_args(p)
    studies = ["base", "realism", "scales", "realism_mode", "steps", "sdedit"]  # = diss.evaluate.STUDIES
    p.add_argument("--studies", nargs="+", default=studies, choices=studies)
    p.add_argument(
        "--realism", type=_unit_float, default=None, help="realism of the base and steps settings (default off)"
    )
    p.add_argument(
        "--step-values",
        type=_positive_int,
        nargs="+",
        metavar="N",
        help="step counts of the steps study (default 10 15 20 30 50; the reference is DDPM 250)",
    )
    p.add_argument(
        "--step-samplers",
        nargs="+",
        metavar="NAME[:N,N]",
        help=f"samplers of the steps study, each at --step-values or at its own counts, e.g. ddim dpm++sde:20,30 "
        f"ddpm:25,50 (default ddim dpm++; names: {', '.join(defaults.SAMPLERS)})",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="EMA weights of a run's newest checkpoint → a model folder")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    p.set_defaults(func=cmd_export)
    return parser


#: what to lower when a command runs out of memory
MEMORY_HINTS = {
    "generate": "lower --num/--batch-size",
    "edit": "lower --num/--batch-size",
    "evaluate": "lower --batch-size",
    "train": "lower --batch-size",
    "prepare": "lower --workers",
}


def _out_of_memory(e: BaseException) -> bool:
    """MemoryError, and PyTorch's own ways of saying the same (CUDA, and the CPU allocator's RuntimeError)."""
    return (
        isinstance(e, MemoryError)
        or type(e).__name__ == "OutOfMemoryError"
        or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e))
    )


class _Stderr(logging.StreamHandler):
    """The library's log lines (``logging.getLogger("diss")``), as they are, on whatever sys.stderr is now."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler sets it once; sys.stderr is read at each line instead
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logger, handler = logging.getLogger("diss"), _Stderr()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
    except DissError as e:
        print(f"diss {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"diss {args.command}: interrupted; finished work is kept, run the same command again to go on",
            file=sys.stderr,
        )
        return 130
    except Exception as e:  # a bug, not bad input: still one line, with a way to get the details
        if os.environ.get("DISS_DEBUG"):
            raise
        if _out_of_memory(e):  # the machine's limit, never blamed on an input file
            hint = MEMORY_HINTS.get(args.command, "close other programs or use smaller inputs")
            print(f"diss {args.command}: error: out of memory: {hint}", file=sys.stderr)
            return 2
        print(
            f"diss {args.command}: unexpected error: {type(e).__name__}: {e} (set DISS_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
    finally:
        logger.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
