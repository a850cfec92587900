"""``diss evaluate``: every quality claim as a number and a plot, reproducible offline.

For N held-out photos: extract sketch and strokes with the project's extractors, generate with the model under each
setting of each study, and measure FID/KID against the photos (beside the real-vs-real floor: N other photos against
the same set), sketch F1 (2 px), stroke error (ΔE after a σ = side/32 blur) and diversity. Generated images are kept
under ``OUT/samples`` so a re-run skips finished settings (resumable); every seed is fixed (deterministic).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from diss import defaults
from diss.data.cache import PrepareConfig, make_triple
from diss.data.images import ImageLoadError, center_square, find_images, load_image, resize
from diss.data.sketch import extract_sketch
from diss.diffusion import seeded
from diss.errors import DissError, require
from diss.metrics import (
    diversity,
    frechet_distance,
    inception_features,
    kernel_inception_distance,
    paired_fid_difference,
    sketch_f1,
    stroke_error,
)

log = logging.getLogger(__name__)

STUDIES = ("base", "realism", "scales", "realism_mode", "steps", "sdedit")


@dataclass
class EvalConfig:
    """What ``diss evaluate`` measures; saved into metrics.json."""

    data: str
    out: str
    model: str | None = None  # a shipped model's name or a folder (diss.folder.resolve_model); None: the default
    num: int = 64
    sampler: str = defaults.SAMPLER
    steps: int = defaults.STEPS
    seed: int = 0
    batch_size: int = 16
    sketch_scale: float = defaults.SKETCH_GUIDANCE_SCALE
    stroke_scale: float = defaults.STROKE_GUIDANCE_SCALE
    realism: float | None = None  # "base" is the guided model alone; the realism study adds the low-pass
    studies: tuple[str, ...] = STUDIES
    realism_values: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    scale_values: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    step_values: tuple[int, ...] = (10, 15, 20, 30, 50)
    step_samplers: tuple[str, ...] = ("ddim", "dpm++")  # "name" (tried at step_values) or "name:20,30" (its own)
    step_reference: tuple[str, int] = ("ddpm", 250)  # the original procedure's sampler: the quality to keep
    step_tolerance: float = 0.05  # "equal quality": FID at most 5% above the reference's
    sdedit_t0: tuple[float, ...] = (0.3, 0.5, 0.7)
    diversity_inputs: int = 8
    diversity_samples: int = 4
    compile: bool = False  # torch.compile the U-Net (pays on a GPU)
    backend: str = defaults.BACKEND  # where the U-Net runs: one of defaults.BACKENDS
    verbose: bool = False  # say which backend runs the U-Net and why
    settings: dict = field(default_factory=dict, repr=False)


def _load_photos(folder: str, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """2n readable photos (evaluation set, floor set); fewer photos → halves of what there is."""
    photos = []
    for path in find_images(folder):
        try:
            photos.append(load_image(path))
        except ImageLoadError as e:
            log.warning("skipped %s", e)
        if len(photos) == 2 * n:
            break
    if len(photos) < 4:
        raise DissError(f"{folder} has {len(photos)} readable photos; evaluation needs at least 4")
    half = min(n, len(photos) // 2)
    return photos[:half], photos[half : 2 * half]


def _settings(cfg: EvalConfig) -> dict[str, dict]:
    """Every setting to generate, by name → pipeline keyword arguments (plus study / label)."""
    base = dict(
        sketch_guidance_scale=cfg.sketch_scale,
        stroke_guidance_scale=cfg.stroke_scale,
        realism=cfg.realism,
        sampler=cfg.sampler,
        num_inference_steps=cfg.steps,
    )
    out: dict[str, dict] = {}
    if "base" in cfg.studies:
        out["base"] = {**base, "study": "base"}
    if "realism" in cfg.studies:
        for s in cfg.realism_values:
            out[f"realism_{s:g}"] = {**base, "realism": s, "study": "realism", "value": s}
    if "realism_mode" in cfg.studies:
        for mode in defaults.REALISM_MODES:
            out[f"mode_{mode}"] = {**base, "realism": 0.5, "realism_mode": mode, "study": "realism_mode", "value": mode}
    if "scales" in cfg.studies:
        for a in cfg.scale_values:
            for b in cfg.scale_values:
                out[f"scales_{a:g}_{b:g}"] = {
                    **base,
                    "sketch_guidance_scale": a,
                    "stroke_guidance_scale": b,
                    "study": "scales",
                    "value": [a, b],
                }
    if "steps" in cfg.studies:
        ref_sampler, ref_steps = cfg.step_reference
        grid = [(ref_sampler, int(ref_steps))] + [(s, n) for s, values in step_grid(cfg).items() for n in values]
        for sampler, n in grid:
            out[f"steps_{sampler}_{n}"] = {
                **base,
                "sampler": sampler,
                "num_inference_steps": n,
                "study": "steps",
                "value": [sampler, n],
            }
    if "sdedit" in cfg.studies:
        for t0 in cfg.sdedit_t0:
            out[f"sdedit_{t0:g}"] = {**base, "sdedit": t0, "study": "sdedit", "value": t0}
    return out


def step_grid(cfg: EvalConfig) -> dict[str, tuple[int, ...]]:
    """The steps study's samplers → step counts: ``"ddim"`` at ``step_values``, ``"ddpm:25,50"`` at 25 and 50."""
    grid: dict[str, tuple[int, ...]] = {}
    for spec in cfg.step_samplers:
        name, _, counts = spec.partition(":")
        if name not in defaults.SAMPLERS:
            raise DissError(f"unknown sampler {name!r} in the steps study; choose from {', '.join(defaults.SAMPLERS)}")
        try:
            values = tuple(int(c) for c in counts.split(",")) if counts else tuple(cfg.step_values)
        except ValueError:
            raise DissError(f"{spec!r}: write a sampler as NAME or NAME:STEPS,STEPS (e.g. ddpm:25,50)") from None
        if not values or not all(1 <= v <= 10_000 for v in values):
            raise DissError(f"{spec!r}: step counts must be 1 to 10000")
        grid[name] = grid.get(name, ()) + values
    return grid


def _generate(pipe, setting: dict, sketches, strokes, seed: int, batch: int, offset: int = 0) -> np.ndarray:
    """The setting's images (N, S, S, 3) uint8, in batches; "sdedit": the SDEdit baseline, the strokes noised to that
    share of the schedule and denoised by the same model without conditions (Φ, Φ), no realism."""
    from diss.conventions import to_uint8

    kw = {k: v for k, v in setting.items() if k not in ("study", "value", "sdedit")}
    if "sdedit" in setting:
        kw.update(realism=None, strength=setting["sdedit"])
    out = []
    for start in range(0, len(sketches), batch):
        sk, st = list(sketches[start : start + batch]), list(strokes[start : start + batch])
        generators = seeded(range(seed + offset + start, seed + offset + start + len(sk)))
        sdedit = "sdedit" in setting  # the strokes are the image to start from, no condition is given
        conditions, extra = ((None, None), {"image": st}) if sdedit else ((sk, st), {})
        images = pipe(*conditions, num_images=len(sk), generator=generators, output_type="np", **extra, **kw).images
        out.append(to_uint8(images))
    return np.concatenate(out)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def evaluate(cfg: EvalConfig, progress: bool = True) -> dict:
    """Run the studies and write report.md, metrics.json and plots into ``cfg.out``; returns the metrics."""
    from tqdm.auto import tqdm

    from diss.folder import resolve_model
    from diss.loading import load_pipeline
    from diss.outputs import output_dir

    require("matplotlib", "eval", "diss evaluate")  # its plots: said before any work
    unknown = set(cfg.studies) - set(STUDIES)
    if unknown:
        raise DissError(f"unknown studies {sorted(unknown)}; choose from {', '.join(STUDIES)}")
    settings = _settings(cfg)  # a bad setting is refused before anything is loaded or written
    pipe = load_pipeline(resolve_model(cfg.model), backend=cfg.backend, verbose=cfg.verbose)
    pipe.set_progress_bar_config(disable=True)  # the settings' bar shows the progress
    if cfg.compile:
        pipe.compile()
    out = output_dir(cfg.out)  # made only once the model loaded: a failed start leaves nothing behind
    size = pipe.size
    photos, floor_photos = _load_photos(cfg.data, cfg.num)
    prep = PrepareConfig(size=size, seed=cfg.seed)
    triples = [make_triple(p, prep, cfg.seed + i) for i, p in enumerate(photos)]
    real = np.stack([t[0] for t in triples])
    sketches = np.stack([t[1] for t in triples])
    strokes = np.stack([t[2] for t in triples])
    floor = np.stack([resize(center_square(p), size) for p in floor_photos])
    n = len(real)
    real_feats = inception_features(real)
    floor_feats = inception_features(floor)
    metrics: dict = {
        "n": n,
        "size": size,
        "config": {k: v for k, v in asdict(cfg).items() if k != "settings"},
        "fid_floor": frechet_distance(floor_feats, real_feats),
        "kid_floor": kernel_inception_distance(floor_feats, real_feats)[0],
        "settings": {},
    }
    samples_dir = out / "samples"
    samples_dir.mkdir(exist_ok=True)
    step_feats: dict[str, np.ndarray] = {}  # the steps study's features, for paired differences to the reference
    for name, setting in tqdm(settings.items(), desc="evaluate", unit="setting", disable=not progress):
        path = samples_dir / f"{name}.npy"
        if path.is_file():
            images = np.load(path)
        else:
            images = _generate(pipe, setting, sketches, strokes, cfg.seed, cfg.batch_size)
            _save_npy(path, images)
        feats = inception_features(images)
        if setting["study"] == "steps":
            step_feats[name] = feats
        f1 = [sketch_f1(sketches[i], extract_sketch(resize(images[i], 2 * size), size))[2] for i in range(n)]
        errors = [stroke_error(strokes[i], images[i]) for i in range(n)]
        kid, kid_std = kernel_inception_distance(feats, real_feats)
        metrics["settings"][name] = {
            "study": setting["study"],
            "value": setting.get("value"),
            "fid": frechet_distance(feats, real_feats),
            "kid": kid,
            "kid_std": kid_std,
            "sketch_f1": float(np.mean(f1)),
            "stroke_error": float(np.nanmean(errors)),
        }
    if "base" in settings:
        k, m = min(cfg.diversity_inputs, n), cfg.diversity_samples
        path = samples_dir / "diversity.npy"
        if path.is_file():
            many = np.load(path)
        else:
            rep = lambda a: np.repeat(a[:k], m, axis=0)  # noqa: E731
            many = _generate(pipe, settings["base"], rep(sketches), rep(strokes), cfg.seed + 10_000, cfg.batch_size)
            _save_npy(path, many)
        feats = inception_features(many).reshape(k, m, -1)
        metrics["diversity"] = float(np.mean([diversity(f) for f in feats]))
        base = metrics["settings"]["base"]
        metrics.update({key: base[key] for key in ("fid", "kid", "sketch_f1", "stroke_error")})
    if "steps" in cfg.studies:
        ref_name = "steps_{}_{}".format(*cfg.step_reference)
        for name, feats in step_feats.items():
            sd, low, high = paired_fid_difference(feats, step_feats[ref_name], real_feats, seed=cfg.seed)
            entry = metrics["settings"][name]
            entry["fid_difference"] = entry["fid"] - metrics["settings"][ref_name]["fid"]
            entry["fid_difference_sd"], entry["fid_difference_95"] = sd, [low, high]
        metrics["equal_quality"] = equal_quality(metrics["settings"], cfg)
    if "sdedit" in cfg.studies:
        metrics["sdedit"] = {k: v for k, v in metrics["settings"].items() if v["study"] == "sdedit"}
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    os.replace(tmp, out / "metrics.json")
    plots = write_plots(metrics, out)
    write_grid(out, real, sketches, strokes, samples_dir, settings)
    write_report(metrics, out, plots)
    return metrics


def equal_quality(settings: dict, cfg: EvalConfig) -> dict:
    """Per sampler, the fewest steps from which FID *stays* at most ``step_tolerance`` above the reference's (DDPM 250):
    that count and every larger one tried are within it (a lucky small count after a failing larger one is noise)."""
    ref_sampler, ref_steps = cfg.step_reference
    ref = settings[f"steps_{ref_sampler}_{int(ref_steps)}"]["fid"]
    limit = ref * (1.0 + cfg.step_tolerance)
    result: dict = {"reference": [ref_sampler, int(ref_steps)], "reference_fid": ref, "fid_limit": limit}
    for sampler in step_grid(cfg):
        tried = sorted((v["value"][1], v["fid"]) for v in settings.values() if v["study"] == "steps"
                       and v["value"][0] == sampler)  # fmt: skip
        fewest = None
        for steps, fid in reversed(tried):
            if fid > limit:
                break
            fewest = steps
        result[sampler] = fewest  # None: the largest count tried does not reach the reference's quality
    return result


def write_plots(metrics: dict, out: Path) -> list[str]:
    """Trade-off plots like the paper's; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    s = metrics["settings"]
    made = []
    realism = sorted((v["value"], v) for v in s.values() if v["study"] == "realism")
    sdedit = sorted((v["value"], v) for v in s.values() if v["study"] == "sdedit")
    if realism:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key, label in (
            (axes[0], "stroke_error", "stroke error (ΔE, lower = closer)"),
            (axes[1], "sketch_f1", "sketch F1 (higher = closer)"),
        ):
            ax.plot([v[key] for _, v in realism], [v["fid"] for _, v in realism], "o-", label="DiSS realism sweep")
            for value, v in realism:
                ax.annotate(f"s={value:g}", (v[key], v["fid"]), fontsize=8)
            if sdedit:
                ax.plot([v[key] for _, v in sdedit], [v["fid"] for _, v in sdedit], "s--", label="SDEdit (t0)")
                for value, v in sdedit:
                    ax.annotate(f"t0={value:g}", (v[key], v["fid"]), fontsize=8)
            for mode, marker in (("lowpass", "^"), ("x0", "D")):
                v = s.get(f"mode_{mode}")
                if v:
                    ax.plot([v[key]], [v["fid"]], marker, label=f"realism 0.5, {mode} mode")
            ax.axhline(metrics["fid_floor"], color="gray", ls=":", label="real-vs-real floor")
            ax.set_xlabel(label)
            ax.set_ylabel(f"FID (N={metrics['n']})")
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "realism_tradeoff.png", dpi=110)
        plt.close(fig)
        made.append("realism_tradeoff.png")
    scales = [v for v in s.values() if v["study"] == "scales"]
    if scales:
        a_vals = sorted({v["value"][0] for v in scales})
        b_vals = sorted({v["value"][1] for v in scales})
        fig, axes = plt.subplots(1, 3, figsize=(13, 4))
        for ax, key in zip(axes, ("fid", "sketch_f1", "stroke_error"), strict=True):
            grid = np.full((len(a_vals), len(b_vals)), np.nan)
            for v in scales:
                grid[a_vals.index(v["value"][0]), b_vals.index(v["value"][1])] = v[key]
            im = ax.imshow(grid, origin="lower", cmap="viridis")
            ax.set_xticks(range(len(b_vals)), [f"{b:g}" for b in b_vals])
            ax.set_yticks(range(len(a_vals)), [f"{a:g}" for a in a_vals])
            ax.set_xlabel("stroke scale")
            ax.set_ylabel("sketch scale")
            ax.set_title(key)
            fig.colorbar(im, ax=ax)
        fig.tight_layout()
        fig.savefig(out / "scales_grid.png", dpi=110)
        plt.close(fig)
        made.append("scales_grid.png")
    steps = [v for v in s.values() if v["study"] == "steps"]
    if steps:
        fig, ax = plt.subplots(figsize=(6, 4))
        eq = metrics.get("equal_quality", {})
        for sampler in dict.fromkeys(v["value"][0] for v in steps):  # in the study's order
            pts = sorted((v["value"][1], v["fid"], v.get("fid_difference_sd", 0.0)) for v in steps
                         if v["value"][0] == sampler)  # fmt: skip
            # error bars: the paired-bootstrap sd of the difference to the reference; one setting is one marker
            ax.errorbar(*zip(*pts, strict=True), fmt="o-", capsize=3, label=sampler)
        if eq:
            ref_sampler, ref_steps = eq["reference"]
            ax.plot([ref_steps], [eq["reference_fid"]], "k*", ms=10, label=f"{ref_sampler} {ref_steps} (reference)")
            ax.axhline(eq["fid_limit"], color="k", ls="--", lw=0.8, label="reference + 5%")
            ax.set_xscale("log")
            ax.set_xticks(sorted({v["value"][1] for v in steps}))  # labelled at the step counts measured
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 20, 40, 250 rather than 2×10¹
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.axhline(metrics["fid_floor"], color="gray", ls=":", label="floor")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(f"FID (N={metrics['n']})")
        ax.set_title("error bars: paired-bootstrap sd of the FID difference to the reference", fontsize=8)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "fid_vs_steps.png", dpi=110)
        plt.close(fig)
        made.append("fid_vs_steps.png")
    return made


def write_grid(out: Path, real, sketches, strokes, samples_dir: Path, settings: dict) -> None:
    """photo | sketch | stroke | a few settings' samples, for the first inputs: to look at."""
    from diss.grid import save_grid

    shown = [name for name in ("base", "realism_0", "realism_1", "sdedit_0.5") if name in settings]
    samples = {name: np.load(samples_dir / f"{name}.npy") for name in shown}
    rows = [[real[i], sketches[i], strokes[i], *(samples[n][i] for n in shown)] for i in range(min(6, len(real)))]
    save_grid(out / "samples.png", rows, col_labels=["photo", "sketch", "stroke", *shown])


def write_report(metrics: dict, out: Path, plots: list[str]) -> None:
    lines = [
        "# diss evaluation",
        "",
        f"N = {metrics['n']} held-out photos at {metrics['size']} px; FID/KID against these photos. "
        f"Real-vs-real floor (N other photos vs the same set): FID {metrics['fid_floor']:.2f}, "
        f"KID {metrics['kid_floor']:.4f}. Small-N FID is biased upwards and noisy: compare with the floor.",
        "",
    ]
    if "diversity" in metrics:
        lines += [
            f"Diversity (mean pairwise cosine distance of Inception features, "
            f"{metrics['config']['diversity_samples']} samples × {metrics['config']['diversity_inputs']} inputs):"
            f" {metrics['diversity']:.4f}",
            "",
        ]
    if "equal_quality" in metrics:
        eq = metrics["equal_quality"]
        found = ", ".join(
            f"{k} {v if v is not None else 'none of the counts tried'}"
            for k, v in eq.items()
            if k not in ("reference", "reference_fid", "fid_limit")
        )
        lines += [
            f"Equal quality: fewest steps with FID ≤ {eq['fid_limit']:.2f} (reference {eq['reference'][0]} "
            f"{eq['reference'][1]} steps: FID {eq['reference_fid']:.2f}, + 5%): {found}. ΔFID: the difference to "
            "the reference with its 95% paired-bootstrap interval (the same inputs and seeds resampled together, "
            "200 times).",
            "",
        ]
    lines += [
        "| setting | study | FID | ΔFID vs reference | KID | sketch F1 | stroke error (ΔE) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in metrics["settings"].items():
        diff = (
            f"{v['fid_difference']:+.1f} [{v['fid_difference_95'][0]:+.1f}, {v['fid_difference_95'][1]:+.1f}]"
            if "fid_difference" in v
            else ""
        )
        lines.append(
            f"| {name} | {v['study']} | {v['fid']:.2f} | {diff} | {v['kid']:.4f} | {v['sketch_f1']:.3f} | "
            f"{v['stroke_error']:.2f} |"
        )
    lines += [
        "",
        "Sketch F1: lines of the output's extracted sketch vs the input sketch, 2 px tolerance. Stroke error:"
        " CIELAB ΔE76 on painted pixels after a σ = side/32 Gaussian blur. SDEdit: the strokes noised to t0 and "
        "denoised by the same model's unconditional branch.",
        "",
    ]
    lines += [f"![{p}]({p})" for p in [*plots, "samples.png"]]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
