"""`diss prepare` and `diss extract`: photos → sketches and strokes (``diss.data``)."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from diss.cli.args import config_from_args
from diss.data.cache import item_seed, sample_cache
from diss.data.cache import prepare as prepare_cache
from diss.data.images import ImageLoadError, center_square, find_images, load_image, resize, save_image, save_png
from diss.data.options import ExtractOptions, PrepareOptions
from diss.data.sketch import extract_sketch
from diss.data.stroke import extract_stroke
from diss.errors import DissError
from diss.grid import make_grid
from diss.outputs import output_dir, output_image


def prepare(args) -> int:
    src = Path(args.src)
    if not src.is_dir():
        raise DissError(f"source folder {src} does not exist or is not a folder")
    options = config_from_args(PrepareOptions, args)
    preview = output_image(options.preview) if options.preview else None
    out = Path(args.out)
    report = prepare_cache(src, out, options.prepare_config(), workers=options.workers, overwrite=options.overwrite,
                     progress=not options.quiet)  # fmt: skip
    print(report.summary())
    if preview is not None:
        rows = [[image, sk, st] for _, image, sk, st in sample_cache(out, options.preview_rows)]
        if rows:
            save_image(make_grid(rows, col_labels=["photo", "sketch", "stroke"]), preview)
            print(f"preview: {preview}")
    print(f"cache: {out}")
    return 0


def extract(args) -> int:
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
