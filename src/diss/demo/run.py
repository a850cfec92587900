"""`diss demo`: the three dials and local editing on the shipped models and the project's own example drawings.

For each domain (diss.domains; every shipped one, or the model ``--model`` names) four labelled PNG grids in a folder
of its own: a realism sweep (rows realism 0 → 1, columns seeds), a sketch-scale × stroke-scale grid (realism off, so
the guidance alone shows), a local edit (a generated image's background, sky or eyes repainted, the rest kept) and the
examples with two results each (one has strokes on part of the canvas only: the rest is left to the model).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from diss import defaults
from diss.conventions import LINE_MAX, stroke_mask, to_uint8
from diss.demo.config import DemoConfig
from diss.domains import EYE_RADIUS, Domain
from diss.errors import DissError
from diss.folder import SHIPPED_MODELS, load_example, model_domain
from diss.grid import save_grid
from diss.runtime import seeded


def background_edit(
    stroke: np.ndarray, size: int, region: str = "background", sketch: np.ndarray | None = None,
    spots: tuple[tuple[float, float], ...] = (),
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(mask, new strokes) that repaint one region of a drawing, its paint turned by a hue shift, the rest kept:
    "background" is outside a central disc (a flower's greens turn blue), "sky" everything above the sketch's topmost
    line in each column (the horizon or the ridge; a blue sky turns to an evening's orange), "eyes" the discs of
    ``domains.EYE_RADIUS`` around ``spots`` (a cat's green eyes turn blue, its yellow ones green)."""
    h, w = stroke.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    if region == "sky":
        if sketch is None:
            raise DissError("the sky edit needs the sketch: its topmost line is the sky's lower edge")
        gray = sketch.min(axis=-1) if sketch.ndim == 3 else sketch
        lines = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA) < LINE_MAX
        top = np.where(lines.any(axis=0), lines.argmax(axis=0), h)  # (W,) the first line's row, or none
        repaint, shift = yy < top[None, :], 95
        # the mask reaches past the line by 2 px of 64, so the model redraws the edge (else a band of the old sky
        # stays between the line and the mask); the paint below the line keeps its colours
        masked = yy < top[None, :] + max(2, h // 32)
    elif region == "eyes":
        if not spots:
            raise DissError("the eyes edit needs where the eyes are (the domain's spots)")
        r = EYE_RADIUS * min(h, w)
        repaint = np.logical_or.reduce([(yy - y * h) ** 2 + (xx - x * w) ** 2 <= r * r for x, y in spots])
        shift, masked = 45, repaint
    else:
        repaint, shift = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 > (0.42 * min(h, w)) ** 2, 50
        masked = repaint
    hsv = cv2.cvtColor(stroke, cv2.COLOR_RGB2HSV)
    painted = stroke_mask(stroke)
    hsv[..., 0] = np.where(repaint & painted, (hsv[..., 0].astype(int) + shift) % 180, hsv[..., 0]).astype(np.uint8)
    if region == "sky":  # an evening sky is warmer and more saturated than a hue turn alone makes it
        hsv[..., 1] = np.where(repaint & painted, np.clip(hsv[..., 1].astype(int) * 2 + 40, 0, 255), hsv[..., 1])
    new_stroke = np.where(repaint[..., None], cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), stroke)
    mask = cv2.resize(masked.astype(np.uint8) * 255, (size, size), interpolation=cv2.INTER_NEAREST)
    return mask, new_stroke


def run_demo(config: DemoConfig, progress: bool = True) -> dict[str, Path]:
    """Write the demo grids into ``config.out``, a folder per domain; returns their paths by "domain/grid"."""
    from tqdm.auto import tqdm

    from diss.loading import load_pipeline
    from diss.outputs import output_dir

    models = list(SHIPPED_MODELS) if config.model is None else [config.model]
    pipes = [load_pipeline(m, backend=config.backend, verbose=config.verbose) for m in models]
    domains = [model_domain(m) for m in models]
    drawings = [{name: load_example(name) for name in d.examples} for d in domains]
    out = output_dir(config.out)  # made only once the models loaded: a failed start leaves nothing behind
    jobs = sum(len(defaults.REALISM_SWEEP) + len(defaults.SCALE_SWEEP) + 2 + len(d.examples) for d in domains)
    bar = tqdm(total=jobs, desc="demo", unit="batch", disable=not progress)
    paths = {}
    for model, pipe, domain, examples in zip(models, pipes, domains, drawings, strict=True):
        name = model if model in SHIPPED_MODELS else Path(model).name or "model"
        grids = _domain_demo(pipe, domain, examples, config, output_dir(out / name), bar)
        paths |= {f"{name}/{k}": v for k, v in grids.items()}
    bar.close()
    return paths


def _domain_demo(pipe, domain: Domain, drawings: dict, config: DemoConfig, out: Path, bar) -> dict[str, Path]:
    """The four grids of one model, on its domain's example drawings."""
    pipe.set_progress_bar_config(disable=True)  # the demo's own bar counts its batches

    def generate(sketch, stroke, n: int, seed: int, same_seed: bool = False, **kw) -> list[np.ndarray]:
        images = to_uint8(
            pipe(
                sketch,
                stroke,
                num_images=n,
                num_inference_steps=config.steps,
                sampler=config.sampler,
                generator=seeded([seed] * n if same_seed else range(seed, seed + n)),
                output_type="np",
                **kw,
            ).images
        )
        bar.update(1)
        return list(images)

    size = pipe.output_sizes[-1]
    sweep = drawings[domain.sweep]
    return {
        "realism": _realism_sweep(generate, sweep, config, out / "realism_sweep.png"),
        "scales": _scales_grid(generate, drawings[domain.scales], config, out / "scales_grid.png"),
        "editing": _local_edit(generate, sweep, domain, config, size, out / "local_editing.png"),
        "examples": _examples(generate, drawings, config, out / "examples.png"),
    }


def _realism_sweep(generate, drawing, config: DemoConfig, path: Path) -> Path:
    """Rows realism 0 → 1 (N from eq. 9: 32 → 1 at 64 px), columns seeds; the same seeds in every row."""
    sketch, stroke = drawing
    n_seeds = config.seeds
    sweep = defaults.REALISM_SWEEP
    rows = [[sketch, stroke] + generate(sketch, stroke, n_seeds, config.seed, realism=r) for r in sweep]
    save_grid(
        path,
        rows,
        col_labels=["sketch", "strokes"] + [f"seed {config.seed + i}" for i in range(n_seeds)],
        row_labels=[f"realism {r:g}" for r in sweep],
    )
    return path


def _scales_grid(generate, drawing, config: DemoConfig, path: Path) -> Path:
    """Sketch scale (rows) × stroke scale (columns), the same seed in every cell."""
    sketch, stroke = drawing
    n = len(defaults.SCALE_SWEEP)
    rows = []
    for s_sk in defaults.SCALE_SWEEP:
        images = generate(
            sketch,
            stroke,
            n,
            config.seed,
            same_seed=True,
            sketch_guidance_scale=torch.full((n,), s_sk),
            stroke_guidance_scale=torch.tensor(defaults.SCALE_SWEEP),
            realism=None,
        )
        rows.append([sketch, stroke] + images)
    save_grid(
        path,
        rows,
        col_labels=["sketch", "strokes"] + [f"stroke scale {s:g}" for s in defaults.SCALE_SWEEP],
        row_labels=[f"sketch scale {s:g}" for s in defaults.SCALE_SWEEP],
    )
    return path


def _local_edit(generate, drawing, domain: Domain, config: DemoConfig, size: int, path: Path) -> Path:
    """Generate an image, then repaint only its background, sky or eyes (white in the mask), the rest kept."""
    sketch, stroke = drawing
    n_seeds = config.seeds
    (original,) = generate(sketch, stroke, 1, config.seed)
    mask, new_stroke = background_edit(stroke, size, domain.edit, sketch, domain.spots)
    edited = generate(sketch, new_stroke, n_seeds, config.seed + 100, image=original, mask_image=mask)
    save_grid(
        path,
        [[original, mask, new_stroke] + edited],
        col_labels=["image", "mask", "new strokes"] + [f"edited, seed {config.seed + 100 + i}" for i in range(n_seeds)],
    )
    return path


def _examples(generate, drawings: dict, config: DemoConfig, path: Path) -> Path:
    """Every example drawing with two results; the last has strokes on part of the canvas only."""
    rows = [[sk, st] + generate(sk, st, 2, config.seed) for sk, st in drawings.values()]
    save_grid(path, rows, col_labels=["sketch", "strokes", "result", "result"], row_labels=list(drawings))
    return path
