"""Generation in bounded batches (``diss generate``, ``diss edit``): one drawing, or folders of them matched by file
stem → one image, or a labelled grid (seeds × sweep values), per input, each written as soon as its batch is done,
so memory stays flat however many are asked for. A bad input in a folder is skipped with one line; the others are
still made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from diss import defaults
from diss.errors import DissError
from diss.options import STEPS_HELP, opt

#: the most images one output grid may hold (--num × sweep values): more is refused before any work
MAX_GRID_CELLS = 1024
#: the dials a sweep may vary, by their command-line name → the pipeline's keyword
SWEEPABLE = {"realism": "realism", "sketch-scale": "sketch_guidance_scale", "stroke-scale": "stroke_guidance_scale"}


@dataclass
class BatchConfig:
    """What to make of each input: ``num`` seeds from ``seed`` on, for each value of the sweep (if any); the fields made
    with ``opt`` are the flags of ``diss generate`` / ``diss edit``, in this order."""

    sketch_scale: float | Path = opt(defaults.SKETCH_GUIDANCE_SCALE, "faithfulness to the sketch: a number ≥ 0 or a "
                                     "grayscale map image (default %(default)s)", "scale", metavar="F|MAP")  # fmt: skip
    stroke_scale: float | Path = opt(defaults.STROKE_GUIDANCE_SCALE, "faithfulness to the strokes: a number ≥ 0 or a "
                                     "grayscale map image (default %(default)s)", "scale", metavar="F|MAP")  # fmt: skip
    realism: float | None = opt(defaults.REALISM, "0 = follow the drawing's colours/layout closely … 1 = most "
                                "realistic (default %(default)s); none = off", "realism", metavar="F")  # fmt: skip
    realism_mode: str = opt(defaults.REALISM_MODE, choices=defaults.REALISM_MODES)
    sampler: str = opt(defaults.SAMPLER, choices=defaults.SAMPLERS)
    steps: int | None = opt(None, STEPS_HELP, "steps")  # None: the model's (DiSSPipeline.default_steps)
    fast: bool = opt(False, "the model folder's distilled student: 1, 2 or 4 steps (default 4) of one U-Net call each, "
                     "the guidance folded in (what it cannot do runs on the full model, said once)")  # fmt: skip
    guidance_start: float = opt(defaults.GUIDANCE_START, "share of the steps after which guidance starts (default "
                                "%(default)s)", "unit", metavar="F")  # fmt: skip
    guidance_end: float = opt(defaults.GUIDANCE_END, "share of the steps after which guidance stops (default "
                              "%(default)s): the other steps take one U-Net call of the model's conditional instead "
                              "of three", "unit", metavar="F")  # fmt: skip
    # the images' side: the base's, or the upsampler's (None: the largest the model gives)
    size: int | None = opt(None, "side of the images: the model's own (64), or its upsampler's (256) where the model "
                           "folder has one (the default there)", "positive", metavar="PX")  # fmt: skip
    num: int = opt(1, "images per input (a grid when > 1)", "positive")
    seed: int = opt(0, None, "int")
    # (a name of SWEEPABLE, its values)
    sweep: tuple[str, list[float]] | None = opt(None, "e.g. realism=0,0.5,1: a labelled grid", "sweep",
                                                metavar="NAME=V1,V2")  # fmt: skip
    batch_size: int = opt(8, "images generated together, at most (default 8): memory stays flat whatever --num or the "
                          "folder size; larger is faster on a GPU", "positive", metavar="N")  # fmt: skip

    @property
    def dials(self) -> dict:
        """The scales, realism and the guided share of the steps, as the pipeline's keywords."""
        return {
            "sketch_guidance_scale": self.sketch_scale,
            "stroke_guidance_scale": self.stroke_scale,
            "realism": self.realism,
            "guidance_start": self.guidance_start,
            "guidance_end": self.guidance_end,
        }

    @property
    def sweep_values(self) -> list:
        return self.sweep[1] if self.sweep else [None]

    @property
    def cells(self) -> int:
        """Images in each output."""
        return self.num * len(self.sweep_values)

    def check(self) -> None:
        """The grid's size, refused up front with the limit named."""
        if self.cells > MAX_GRID_CELLS:
            times = f" × {len(self.sweep_values)} sweep values" if self.sweep else ""
            raise DissError(
                f"--num {self.num:,}{times} asks for a grid of {self.cells:,} images in each output, more than the "
                f"limit of {MAX_GRID_CELLS:,}; lower --num"
            )


def pair_inputs(sketch, stroke, image=None, mask=None, say: Callable[[str], None] = print):
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
            say(f"skipped {s[stem]}: no file with stem {stem!r} in the other folder(s)")
    if not common:
        raise DissError("no file stems in common between the given folders")
    return [
        (stem, *(stems[k][stem] if k in stems else None for k in ("sketch", "stroke", "image", "mask")))
        for stem in sorted(common)
    ], True


class Job:
    """One output: its inputs as the pipeline takes them and its rows of finished images."""

    def __init__(self, name: str, sketch, stroke, image, mask):
        self.name, self.sketch, self.stroke, self.image, self.mask = name, sketch, stroke, image, mask
        self.unchanged = None  # the image itself, when its mask leaves nothing to regenerate
        self.rows: list[list] = []


def check_job(job: Job, size: int, say: Callable[[str], None], out_size: int | None = None) -> None:
    """Decode the job's files once (DissError naming a bad one), the strokes at the model's ``size``, the photo and
    mask of an edit at the images' ``out_size`` (default ``size``), and say what they mean when it
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
        out_size = out_size or size
        job.image = prepare_image(job.image, out_size)
        mask = prepare_mask(job.mask, out_size)
        if not mask.any():
            say(
                f"note: --mask {job.mask} is all black at {out_size} px: nothing to regenerate, the output is "
                "the image as it is"
            )
            job.unchanged = job.image
        elif mask.all():
            say(f"note: --mask {job.mask} is all white: the whole image is regenerated (the image itself is not used)")
        job.mask = (mask * 255).astype("uint8")


def generate_batches(pipe, pairs: list, many: bool, out: Path, cfg: BatchConfig, say, bar, wrote) -> int:
    """Make and write every output of ``pairs`` (``pair_inputs``) into ``out`` (a folder when ``many``, else the
    file); ``say(line)`` reports a skipped input, ``bar`` (tqdm) counts images, ``wrote(path)`` each file written.
    Returns how many outputs were written."""
    from diss.checks import check_output_size
    from diss.conventions import to_uint8
    from diss.runtime import seeded

    check_output_size(pipe, cfg.size, "--size")  # before any file is read
    sweep_name, sweep_values = cfg.sweep if cfg.sweep else (None, [None])
    labels = [f"{sweep_name} {v:g}" for v in sweep_values] if sweep_name else None
    per_group = max(1, cfg.batch_size // cfg.num)  # outputs decoded, generated and written together
    cells, total = cfg.cells, len(pairs) * cfg.cells

    def column(chunk, attr):
        """One input for the whole call where every image shares it (decoded once), else one per image."""
        values = [getattr(job, attr) for job, _ in chunk]
        if values[0] is None or all(v is values[0] for v in values):
            return values[0]
        return values

    def call(chunk, kw):
        """Images for ``chunk`` = [(job, seed index), ...], in one pipeline call."""
        images = pipe(
            column(chunk, "sketch"),
            column(chunk, "stroke"),
            image=column(chunk, "image"),
            mask_image=column(chunk, "mask"),
            num_inference_steps=cfg.steps,
            num_images=len(chunk),
            sampler=cfg.sampler,
            fast=True if cfg.fast else None,  # not asked for: the folder's own choice
            realism_mode=cfg.realism_mode,
            output_size=cfg.size,
            generator=seeded(cfg.seed + k for _, k in chunk),
            output_type="np",
            **kw,
        ).images
        return to_uint8(images)

    done = 0
    for start in range(0, len(pairs), per_group):
        group, failed = [], set()
        for name, *inputs in pairs[start : start + per_group]:
            job = Job(name, *inputs)
            try:
                check_job(job, pipe.size, say, cfg.size or pipe.output_sizes[-1])
            except DissError as e:
                if not many:
                    raise
                say(f"skipped {name}: {e}")
                continue
            group.append(job)
        for value in sweep_values:
            kw = dict(cfg.dials)
            if sweep_name:
                kw[SWEEPABLE[sweep_name]] = value
            _fill_row(group, failed, kw, cfg, call, many, say, bar)
        for job in group:
            if id(job) in failed:
                continue
            target = out / f"{job.name}.png" if many else out
            _write(job, target, cfg, labels)
            done += 1
            if wrote is not None:
                wrote(target)
        bar.n = min(total, (start + per_group) * cells)  # skipped inputs count as done
        bar.refresh()
    return done


def _fill_row(group: list[Job], failed: set, kw: dict, cfg: BatchConfig, call, many: bool, say, bar) -> None:
    """One row (one sweep value) of every job in ``group``: ``cfg.num`` images each, ``cfg.batch_size`` per call. In a
    folder run, a call that fails is retried input by input, so only the input at fault is skipped (into ``failed``)."""
    for job in group:
        job.rows.append([job.unchanged] * cfg.num if job.unchanged is not None else [])
    todo = [(job, k) for job in group if job.unchanged is None for k in range(cfg.num)]
    batch = cfg.batch_size
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


def _write(job: Job, target: Path, cfg: BatchConfig, labels: list[str] | None) -> None:
    """The job's image, or its grid (columns seeds, rows sweep values; cells at the images' own size, a 64 px one
    shown at 2×: ``grid.make_grid``), written under a temporary name and renamed."""
    from diss.data.images import save_image
    from diss.grid import make_grid

    if cfg.cells == 1:
        result = job.rows[0][0]
    else:
        seeds = [f"seed {cfg.seed + i}" for i in range(cfg.num)]
        result = make_grid(job.rows, col_labels=seeds, row_labels=labels)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save_image(result, target)  # a temporary file renamed into place: never a half-written one
    except OSError as e:  # a full disk, say: what was written before is kept
        raise DissError(f"cannot write {target}: {e.strerror or e}") from None
