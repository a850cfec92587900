"""``diss evaluate --studies drawings``: the realism dial on drawings that come from no photo ([4/5]).

The drawings: the example drawings of the model's domain (``examples/``) and, where the domain has them, its seeded
drawings (``MADE``: cartoon flowers of ``diss.data.drawings``, cats of ``diss.data.cat_drawings``). For each realism
of ``drawing_realism``, one sample per drawing (seed + its index, the same in every row): KID and FID against the
held-out photos (does it look like a photo?), stroke error ΔE to the drawing's own colours (does it keep the drawing's
look?), sketch F1 to its lines, the diversity of a few seeds per drawing, and, for flowers, the colour the demo's
daisy's cream petals come out in (the demo's seeds). A contact sheet ``drawings.png``: rows = realism.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from diss.conventions import LINE_MAX, stroke_mask, to_uint8
from diss.data.cat_drawings import make_cat_drawings
from diss.data.drawings import make_drawings
from diss.data.images import resize
from diss.data.sketch import extract_sketch
from diss.evaluate.metrics import (
    diversity,
    frechet_distance,
    inception_features,
    kernel_inception_distance,
    sketch_f1,
    stroke_error,
)
from diss.grid import save_grid
from diss.realism import lowpass_side
from diss.runtime import seeded

#: "cream": the daisy's petals at least this light (CIELAB L*) and at most this colourful (C*)
CREAM_L, CREAM_C = 75.0, 20.0


#: the seeded drawings of a domain beside its examples: name → what makes the first n for a seed
MADE = {"flowers": make_drawings, "cats": make_cat_drawings}


def benchmark(seed: int, n: int, domain: str = "flowers") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, sketch (S, S), strokes (S, S, 3)) of ``domain``'s example drawings, then of ``n`` of its seeded drawings
    (none for a domain without them)."""
    from diss.domains import DOMAINS
    from diss.folder import load_example

    examples = [(name, sketch.min(axis=-1), stroke) for name in DOMAINS[domain].examples
                for sketch, stroke in [load_example(name)]]  # fmt: skip  # RGB files → (S, S) lines
    made = MADE[domain](n, seed) if domain in MADE else []
    return examples + [(d.name, d.sketch, d.stroke) for d in made]


def lines_at(sketch: np.ndarray, size: int) -> np.ndarray:
    """A drawing's sketch at ``size``: any darkening of the area-resized lines is a line (uint8, 0 = line)."""
    small = cv2.resize(sketch, (size, size), interpolation=cv2.INTER_AREA)
    return np.where(small < LINE_MAX, 0, 255).astype(np.uint8)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def petal_colour(stroke: np.ndarray, images: list[np.ndarray], sketch: np.ndarray | None = None) -> dict:
    """The mean CIELAB L*, C* and hue (degrees) of the images where the strokes are the daisy's light petal colour and
    (given the ``sketch``) no line is drawn: the petals' outlines are meant to come out dark (at 64 px they cover a
    third of the petals' pixels)."""
    size = images[0].shape[0]
    small = cv2.resize(stroke, (size, size), interpolation=cv2.INTER_AREA)
    lab = _lab(small)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    petals = (lab[:, 0] > 85) & (chroma < 12) & stroke_mask(small.reshape(-1, 3))  # painted cream, not white paper
    if sketch is not None:
        petals &= lines_at(sketch, size).reshape(-1) > 0
    got = np.concatenate([_lab(im)[petals] for im in images])
    a, b = got[:, 1].mean(), got[:, 2].mean()
    light, colourful = float(got[:, 0].mean()), float(np.hypot(a, b))
    return {"L": light, "C": colourful, "hue": float(np.degrees(np.arctan2(b, a)) % 360),
            "cream": bool(light >= CREAM_L and colourful <= CREAM_C)}  # fmt: skip


def generate_drawings(pipe, sketches, strokes, seeds, realism: float | None, batch: int, **kw) -> np.ndarray:
    """One image per drawing (N, S, S, 3) uint8, seed i for drawing i, in batches; ``kw``: more pipeline settings."""
    out = []
    for start in range(0, len(sketches), batch):
        part = slice(start, start + batch)
        images = pipe(list(sketches[part]), list(strokes[part]), num_images=len(sketches[part]), realism=realism,
                      generator=seeded(seeds[part]), output_size=pipe.size, output_type="np", **kw).images  # fmt: skip
        out.append(to_uint8(images))
    return np.concatenate(out)


def drawings_study(pipe, real_feats: np.ndarray, cfg, out: Path, progress: bool = True) -> dict:
    """The metrics of the module's docstring for each realism of ``cfg.drawing_realism`` on the drawings of the
    model's domain (its diss.json's), and the contact sheet."""
    from tqdm.auto import tqdm

    from diss.domains import domain_of

    domain = domain_of(pipe.diss_meta).name
    drawings = benchmark(cfg.seed, cfg.drawing_num, domain)
    names = [d[0] for d in drawings]
    sketches, strokes = [d[1] for d in drawings], [d[2] for d in drawings]
    size, n = pipe.size, len(drawings)
    k, m = min(cfg.diversity_inputs, n), cfg.diversity_samples
    daisy = names.index("daisy") if "daisy" in names else None  # the demo's flower: its petals' colour is measured
    lines = [lines_at(s, size) for s in sketches]
    small_strokes = [cv2.resize(s, (size, size), interpolation=cv2.INTER_AREA) for s in strokes]
    result: dict = {"n": n, "domain": domain, "names": names, "realism": {}}
    columns = _sheet_columns(names, domain)
    rows: list[list[np.ndarray]] = [[np.minimum(strokes[i], sketches[i][..., None]) for i in columns]]
    bar = tqdm(cfg.drawing_realism, desc="drawings", unit="realism", disable=not progress)
    for r in bar:
        images = generate_drawings(pipe, sketches, strokes, list(range(cfg.seed, cfg.seed + n)), r, cfg.batch_size)
        repeated = [i for i in range(k) for _ in range(m)]
        many = generate_drawings(pipe, [sketches[i] for i in repeated], [strokes[i] for i in repeated],
                                 [cfg.seed + 10_000 + j for j in range(k * m)], r, cfg.batch_size)  # fmt: skip
        feats = inception_features(images)
        f1 = [sketch_f1(lines[i], extract_sketch(resize(images[i], 2 * size), size))[2] for i in range(n)]
        result["realism"][f"{r:g}"] = {
            "lowpass_side": lowpass_side(r, size),
            "kid": kernel_inception_distance(feats, real_feats)[0],
            "fid": frechet_distance(feats, real_feats),
            "stroke_error": float(np.nanmean([stroke_error(small_strokes[i], images[i]) for i in range(n)])),
            "sketch_f1": float(np.mean(f1)),
            "diversity": float(np.mean([diversity(f) for f in inception_features(many).reshape(k, m, -1)])),
        }
        if daisy is not None:
            demo = generate_drawings(pipe, [sketches[daisy]] * 4, [strokes[daisy]] * 4,
                                     list(range(cfg.seed, cfg.seed + 4)), r, cfg.batch_size)  # fmt: skip
            result["realism"][f"{r:g}"]["daisy_petals"] = petal_colour(strokes[daisy], list(demo), sketches[daisy])
        rows.append([images[i] for i in columns])
    save_grid(out / "drawings.png", rows, col_labels=[names[i] for i in columns],
              row_labels=["drawing"] + [f"realism {r:g}" for r in cfg.drawing_realism])  # fmt: skip
    result["targets"] = drawing_targets(result["realism"])
    return result


def _sheet_columns(names: list[str], domain: str) -> list[int]:
    """The contact sheet's drawings: the domain's examples, then the first seeded drawing of each style (a seeded
    drawing is named STYLE-NNN)."""
    from diss.domains import DOMAINS

    examples = [i for i, name in enumerate(names) if name in DOMAINS[domain].examples]
    styles: dict[str, int] = {}
    for i, name in enumerate(names):
        if i not in examples:
            styles.setdefault(name.rsplit("-", 1)[0], i)
    return examples + list(styles.values())


def drawing_targets(by_realism: dict) -> dict:
    """[4/5]'s targets on the drawing study, each True / False (computed from the metrics, never typed); the daisy's
    only where it was drawn (flowers)."""
    values = list(by_realism.values())
    kids = [v["kid"] for v in values]
    first, last = values[0], values[-1]
    targets = {
        "kid_falls_monotonically": all(b <= a for a, b in zip(kids, kids[1:], strict=False)),
        "kid_halves": last["kid"] <= 0.5 * first["kid"],
        "stroke_error_rises_1.5x": last["stroke_error"] >= 1.5 * first["stroke_error"],
        "sketch_f1_at_least_0.6": all(v["sketch_f1"] >= 0.6 for v in values),
    }
    if all("daisy_petals" in v for v in values):
        targets["daisy_cream_everywhere"] = all(v["daisy_petals"]["cream"] for v in values)
    return targets


def drawing_lines(d: dict) -> list[str]:
    """The study as a report table."""
    rows = [
        f"| {r} | {v.get('lowpass_side', '')} | {v['kid']:.4f} | {v['fid']:.1f} | {v['stroke_error']:.2f} | "
        f"{v['sketch_f1']:.3f} | "
        f"{v['diversity']:.4f} | {_petals(v)} |"
        for r, v in d["realism"].items()
    ]
    met = ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in d["targets"].items())
    return [
        f"## The realism dial on {d['n']} {d.get('domain', 'flowers')} drawings from no photo "
        "([drawings.png](drawings.png))",
        "",
        "| realism | N | KID | FID | stroke ΔE | sketch F1 | diversity | daisy's petals |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Targets: {met}.",
        "",
    ]


def _petals(v: dict) -> str:
    p = v.get("daisy_petals")
    return "" if p is None else f"L* {p['L']:.0f}, C* {p['C']:.0f}"
