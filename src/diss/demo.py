"""`diss demo`: the three dials and local editing on the shipped model and the project's own example drawings.

Writes four labelled PNG grids: a realism sweep (rows realism 0 → 1, columns seeds), a sketch-scale × stroke-scale
grid (realism off, so the guidance alone shows), a local edit (the background of a generated flower repainted, the
flower kept) and the examples with one result
each (one has strokes on part of the canvas only: the rest is left to the model). About a minute on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from diss import defaults
from diss.data.images import load_image
from diss.demo_config import DemoConfig
from diss.diffusion import seeded
from diss.errors import DissError
from diss.folder import EXAMPLES
from diss.grid import save_grid

EXAMPLE_NAMES = ("daisy", "poppy", "sunflower", "pink")
SCALE_VALUES = (0.0, 1.5, 3.0)


def load_example(name: str, folder: Path = EXAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """The (sketch, stroke) drawing ``name`` of the examples folder as uint8 RGB arrays."""
    try:
        return load_image(folder / f"{name}-sketch.png"), load_image(folder / f"{name}-stroke.png")
    except (OSError, ValueError) as e:
        raise DissError(f"example drawing {name} is missing or unreadable in {folder} ({e})") from None


def background_edit(stroke: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask, new strokes) that repaint the background: white outside a central disc, whose strokes turn from green
    to blue; the flower inside the disc is kept."""
    h, w = stroke.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    outside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 > (0.42 * min(h, w)) ** 2
    hsv = cv2.cvtColor(stroke, cv2.COLOR_RGB2HSV)
    painted = stroke.min(axis=2) < 250
    hsv[..., 0] = np.where(outside & painted, (hsv[..., 0].astype(int) + 50) % 180, hsv[..., 0]).astype(np.uint8)
    new_stroke = np.where(outside[..., None], cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), stroke)
    mask = cv2.resize(outside.astype(np.uint8) * 255, (size, size), interpolation=cv2.INTER_NEAREST)
    return mask, new_stroke


def run_demo(config: DemoConfig, progress: bool = True) -> dict[str, Path]:
    """Write the demo grids into ``config.out``; returns their paths by name."""
    from tqdm.auto import tqdm

    from diss.conventions import to_uint8
    from diss.loading import load_pipeline
    from diss.outputs import output_dir

    drawings = {name: load_example(name) for name in EXAMPLE_NAMES}
    pipe = load_pipeline(config.model, backend=config.backend, verbose=config.verbose)
    pipe.set_progress_bar_config(disable=True)  # the demo's own bar counts its batches
    out = output_dir(config.out)  # made only once the model loaded: a failed start leaves nothing behind
    jobs = len(defaults.REALISM_SWEEP) + len(SCALE_VALUES) + 2 + len(EXAMPLE_NAMES)
    bar = tqdm(total=jobs, desc="demo", unit="batch", disable=not progress)

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

    paths = {
        "realism": _realism_sweep(generate, drawings["daisy"], config, out / "realism_sweep.png"),
        "scales": _scales_grid(generate, drawings["poppy"], config, out / "scales_grid.png"),
        "editing": _local_edit(generate, drawings["daisy"], config, pipe.output_sizes[-1], out / "local_editing.png"),
        "examples": _examples(generate, drawings, config, out / "examples.png"),
    }
    bar.close()
    return paths


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
    n = len(SCALE_VALUES)
    rows = []
    for s_sk in SCALE_VALUES:
        images = generate(
            sketch,
            stroke,
            n,
            config.seed,
            same_seed=True,
            sketch_guidance_scale=torch.full((n,), s_sk),
            stroke_guidance_scale=torch.tensor(SCALE_VALUES),
            realism=None,
        )
        rows.append([sketch, stroke] + images)
    save_grid(
        path,
        rows,
        col_labels=["sketch", "strokes"] + [f"stroke scale {s:g}" for s in SCALE_VALUES],
        row_labels=[f"sketch scale {s:g}" for s in SCALE_VALUES],
    )
    return path


def _local_edit(generate, drawing, config: DemoConfig, size: int, path: Path) -> Path:
    """Generate a daisy, then repaint only its background, green → blue (white in the mask)."""
    sketch, stroke = drawing
    n_seeds = config.seeds
    (original,) = generate(sketch, stroke, 1, config.seed)
    mask, new_stroke = background_edit(stroke, size)
    edited = generate(sketch, new_stroke, n_seeds, config.seed + 100, image=original, mask_image=mask)
    save_grid(
        path,
        [[original, mask, new_stroke] + edited],
        col_labels=["image", "mask", "new strokes"] + [f"edited, seed {config.seed + 100 + i}" for i in range(n_seeds)],
    )
    return path


def _examples(generate, drawings: dict, config: DemoConfig, path: Path) -> Path:
    """Every example drawing with two results; "pink" has strokes on part of the canvas only."""
    rows = [[sk, st] + generate(sk, st, 2, config.seed) for sk, st in drawings.values()]
    save_grid(path, rows, col_labels=["sketch", "strokes", "result", "result"], row_labels=list(drawings))
    return path
