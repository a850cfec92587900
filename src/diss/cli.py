"""The ``diss`` command line: parses arguments, calls the library, prints one clear line on error."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from diss import __version__, defaults
from diss.conventions import SHIPPED_MODEL
from diss.errors import DissError


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
#: the most images one output grid may hold (--num × sweep values); more is refused before any work
MAX_GRID_CELLS = 1024
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


SWEEPABLE = {"realism": "realism", "sketch-scale": "sketch_guidance_scale", "stroke-scale": "stroke_guidance_scale"}


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
    from diss.loading import load_pipeline

    folder = Path(model) if model else SHIPPED_MODEL
    if model is None and not folder.is_dir():
        raise DissError(
            f"the shipped model {folder} is missing from this installation; pass --model DIR (a folder from diss "
            "export)"
        )
    if not folder.is_dir():
        raise DissError(f"model folder {folder} does not exist")
    return load_pipeline(folder, backend=backend, verbose=verbose)


def _pairs(sketch, stroke, image=None, mask=None):
    """(name, sketch, stroke, image, mask) jobs; folders are matched by file stem. Returns (jobs, is_folder)."""
    from diss.data.images import find_images

    given = {k: Path(v) for k, v in (("sketch", sketch), ("stroke", stroke), ("image", image), ("mask", mask)) if v}
    for k, v in given.items():
        if not v.exists():
            raise DissError(f"--{k} {v} does not exist")
    folders = {k for k, v in given.items() if v.is_dir()}
    if not folders:
        return [("", given.get("sketch"), given.get("stroke"), given.get("image"), given.get("mask"))], False
    if folders != set(given):
        raise DissError("give either files or folders for all of --sketch/--stroke/--image/--mask, not a mix")
    stems = {k: {p.relative_to(v).with_suffix("").as_posix(): p for p in find_images(v)} for k, v in given.items()}
    common = set.intersection(*(set(s) for s in stems.values()))
    for s in stems.values():
        for stem in sorted(set(s) - common):
            print(f"skipped {s[stem]}: no file with stem {stem!r} in the other folder(s)", file=sys.stderr)
    if not common:
        raise DissError("no file stems in common between the given folders")
    return [
        (stem, *(stems[k][stem] if k in stems else None for k in ("sketch", "stroke", "image", "mask")))
        for stem in sorted(common)
    ], True


class _Job:
    """One output: its inputs as the pipeline takes them and its rows of finished images."""

    def __init__(self, name: str, sketch, stroke, image, mask):
        self.name, self.sketch, self.stroke, self.image, self.mask = name, sketch, stroke, image, mask
        self.unchanged = None  # the image itself, when its mask leaves nothing to regenerate
        self.rows: list[list] = []


def _check_job(job: _Job, size: int, say) -> None:
    """Decode the job's files once (DissError naming a bad one), at the model's size, and say what they mean when it
    may surprise: strokes with no paint (all white, or paint too small for the model's size) are no stroke anywhere,
    so the colours are the model's (realism takes the painted pixels' colours only: it has none to follow); an
    all-black mask leaves the image as it is (no sampling at all); an all-white one regenerates all of it."""
    from diss.conventions import stroke_mask
    from diss.data.inputs import prepare_image, prepare_mask, prepare_stroke, to_rgb_array

    if job.sketch is not None:
        to_rgb_array(job.sketch, "sketch")  # a bad file is found here; the pipeline reads it (it normalises it)
    if job.stroke is not None:
        rgb = to_rgb_array(job.stroke, "stroke")
        painted = bool(stroke_mask(rgb).any())
        small = prepare_stroke(rgb, size)
        if not stroke_mask(small).any():
            if painted:
                what = f"the paint of --stroke {job.stroke} covers less than a pixel at the model's {size} px"
            else:
                what = f"--stroke {job.stroke} is all white"
            say(f"note: {what}: no stroke anywhere, the colours are left to the model")
        job.stroke = small
    if job.image is not None:
        job.image = prepare_image(job.image, size)
        mask = prepare_mask(job.mask, size)
        if not mask.any():
            say(f"note: --mask {job.mask} is all black at the model's {size} px: nothing to regenerate, the output is "
                "the image as it is")
            job.unchanged = job.image
        elif mask.all():
            say(f"note: --mask {job.mask} is all white: the whole image is regenerated (the image itself is not used)")
        job.mask = (mask * 255).astype("uint8")


def _generate(args) -> int:
    from diss.outputs import output_dir, output_image

    sweep_name, sweep_values = args.sweep if args.sweep else (None, [None])
    cells = args.num * len(sweep_values)  # images in each output
    if cells > MAX_GRID_CELLS:
        times = f" × {len(sweep_values)} sweep values" if sweep_name else ""
        raise DissError(
            f"--num {args.num:,}{times} asks for a grid of {cells:,} images in each output, more than the limit of "
            f"{MAX_GRID_CELLS:,}; lower --num"
        )
    pairs, many = _pairs(args.sketch, args.stroke, getattr(args, "image", None), getattr(args, "mask", None))
    out = output_dir(args.out) if many else output_image(args.out)
    import torch  # only now: every check above answers at once
    from tqdm import tqdm

    from diss.data.images import save_image
    from diss.grid import make_grid

    pipe = _load_pipeline(args.model, args.backend, args.verbose)
    if args.compile:
        pipe.compile()
    dials = {
        "sketch_guidance_scale": args.sketch_scale,
        "stroke_guidance_scale": args.stroke_scale,
        "realism": args.realism,
    }
    labels = [f"{sweep_name} {v:g}" for v in sweep_values] if sweep_name else None
    batch = args.batch_size  # images per pipeline call: memory stays flat however many are asked for
    per_group = max(1, batch // args.num)  # outputs decoded, generated and written together
    total = len(pairs) * cells
    one_call = len(pairs) == 1 and len(sweep_values) == 1 and args.num <= batch
    bar = tqdm(total=total, desc="generate", unit="img", disable=args.quiet or one_call)

    def say(line: str) -> None:
        tqdm.write(line, file=sys.stderr)

    def column(chunk, attr):
        """One input for the whole call where every image shares it (decoded once), else one per image."""
        values = [getattr(job, attr) for job, _ in chunk]
        if values[0] is None or all(v is values[0] for v in values):
            return values[0]
        return values

    def call(chunk, kw):
        """Images for ``chunk`` = [(job, seed index), ...], in one pipeline call."""
        return pipe(
            column(chunk, "sketch"),
            column(chunk, "stroke"),
            image=column(chunk, "image"),
            mask=column(chunk, "mask"),
            num_inference_steps=args.steps,
            num_images=len(chunk),
            sampler=args.sampler,
            realism_mode=args.realism_mode,
            generator=[torch.Generator().manual_seed(args.seed + k) for _, k in chunk],
            output_type="np",
            progress=not args.quiet and one_call,
            **kw,
        ).images

    done = 0
    for start in range(0, len(pairs), per_group):
        group, failed = [], set()
        for name, *inputs in pairs[start : start + per_group]:
            job = _Job(name, *inputs)
            try:
                _check_job(job, pipe.size, say)
            except DissError as e:
                if not many:
                    raise
                say(f"skipped {name}: {e}")
                continue
            group.append(job)
        for value in sweep_values:
            kw = dict(dials)
            if sweep_name:
                kw[SWEEPABLE[sweep_name]] = value
            for job in group:
                job.rows.append([job.unchanged] * args.num if job.unchanged is not None else [])
            todo = [(job, k) for job in group if job.unchanged is None for k in range(args.num)]
            for chunk in (todo[i : i + batch] for i in range(0, len(todo), batch)):
                chunk = [(job, k) for job, k in chunk if id(job) not in failed]
                if not chunk:
                    continue
                try:
                    made = list(zip(chunk, call(chunk, kw), strict=True))
                except DissError as e:
                    if not many:
                        raise
                    made, in_chunk = [], {id(job): job for job, _ in chunk}
                    for key, job in in_chunk.items():  # find the input at fault; the others still get made
                        part = [c for c in chunk if c[0] is job]
                        try:
                            if len(in_chunk) == 1:  # the call held this input only: no need to run it again
                                raise e
                            made += zip(part, call(part, kw), strict=True)
                        except DissError as e_job:
                            say(f"skipped {job.name}: {e_job}")
                            failed.add(key)
                for (job, _), image in made:
                    job.rows[-1].append(image)
                bar.update(len(chunk))
        for job in group:
            if id(job) in failed:
                continue
            target = out / f"{job.name}.png" if many else out
            if cells == 1:
                result = job.rows[0][0]
            else:
                result = make_grid(
                    job.rows,
                    col_labels=[f"seed {args.seed + i}" for i in range(args.num)],
                    row_labels=labels,
                    cell=max(96, pipe.size),
                )
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                save_image(result, target)  # a temporary file renamed into place: never a half-written one
            except OSError as e:  # a full disk, say: what was written before is kept
                raise DissError(f"cannot write {target}: {e.strerror or e}") from None
            done += 1
            if not many:
                print(f"wrote {target}")
        bar.n = min(total, (start + per_group) * cells)  # skipped inputs count as done
        bar.refresh()
    bar.close()
    if many:
        print(f"wrote {done} image(s) to {out}")
    return 0 if done else 1


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
    p.add_argument("--model", metavar="DIR", help="model folder (default: the shipped flowers model)")
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
    p.add_argument("--realism-mode", default="lowpass", choices=["lowpass", "x0"])
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
    from diss.app import AppConfig, launch

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


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from diss.train_config import STAGES, TrainConfig  # no torch: the parser is built at once

    d = TrainConfig(data="", out="")
    p.add_argument("--data", required=True, metavar="CACHE", help="cache folder made by diss prepare")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder (checkpoints, previews, logs, model)")
    p.add_argument("--preset", default=d.preset, help="model size: tiny, small (~6.3M, CPU) or base (~15.9M, GPU)")
    p.add_argument("--size", type=_positive_int, help="image side; must match the cache (default: the cache's)")
    p.add_argument(
        "--stage",
        default=d.stage,
        choices=STAGES,
        help="1: both conditions always; 2: condition dropout; both: stage 1 then 2 (default)",
    )
    p.add_argument("--max-steps", type=_positive_int, default=d.max_steps, help="optimizer steps in all")
    p.add_argument(
        "--stage2-fraction",
        type=_unit_float,
        default=d.stage2_fraction,
        metavar="F",
        help="with --stage both: the share of the steps trained as stage 2 (default 0.3)",
    )
    p.add_argument(
        "--p-uncond",
        type=_unit_float,
        default=d.p_uncond,
        metavar="P",
        help="stage 2: chance of Φ for each condition (default 0.3)",
    )
    p.add_argument("--batch-size", type=_positive_int, default=d.batch_size, help="per process and micro-step")
    p.add_argument("--grad-accum", type=_positive_int, default=d.grad_accum)
    p.add_argument("--lr", type=_finite_float, default=d.lr)
    p.add_argument("--lr-schedule", default=d.lr_schedule, choices=["constant", "cosine"])
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--weight-decay", type=_finite_float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=_finite_float, default=d.grad_clip)
    p.add_argument("--ema-decay", type=_finite_float, default=d.ema_decay)
    p.add_argument(
        "--schedule", dest="beta_schedule", default=d.beta_schedule, choices=["linear", "cosine"], help="noise schedule"
    )
    p.add_argument("--learned-variance", action="store_true", help="6-channel output, L_simple + λ·L_vlb")
    p.add_argument("--vlb-weight", type=_finite_float, default=d.vlb_weight)
    p.add_argument("--precision", default=d.precision, choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--compile", action="store_true", help="torch.compile the U-Net (pays off on GPUs)")
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--checkpoint-every", type=_positive_int, default=d.checkpoint_every, metavar="N")
    p.add_argument("--keep-checkpoints", type=_positive_int, default=d.keep_checkpoints, metavar="K")
    p.add_argument("--preview-every", type=_positive_int, default=d.preview_every, metavar="M")
    p.add_argument("--log-every", type=_positive_int, default=d.log_every, metavar="N")
    p.add_argument("--workers", type=int, default=d.workers, help="data loader processes (default 0)")
    p.add_argument("--init", metavar="RUN", help="start from the EMA weights of another run (e.g. stage 1)")
    p.add_argument(
        "--time-limit",
        type=_finite_float,
        metavar="MIN",
        help="fit the run into MIN minutes: the speed is measured early and --max-steps shortened to fit",
    )
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
    p.add_argument("--model", metavar="DIR", help="model folder (default: the shipped flowers model)")
    p.add_argument("--steps", type=_steps, default=defaults.STEPS, help="sampling steps (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    _add_backend_args(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("app", help="the drawing app in the browser (Gradio, offline, localhost)")
    p.add_argument("--model", metavar="DIR", help="model folder (default: the shipped flowers model)")
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
    p.add_argument("--model", required=True, metavar="DIR")
    p.add_argument("--data", required=True, metavar="IMAGES_DIR", help="held-out photos (2×N are read: N + floor)")
    p.add_argument("--out", required=True, metavar="REPORT_DIR")
    p.add_argument("--num", type=_positive_int, default=64, help="photos evaluated (default 64)")
    p.add_argument("--sampler", default="ddim", choices=defaults.SAMPLERS)
    p.add_argument("--steps", type=_steps, default=25)
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
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


if __name__ == "__main__":
    sys.exit(main())
