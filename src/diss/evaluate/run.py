"""``diss evaluate``: every quality claim as a number and a plot, reproducible offline.

For N held-out photos: extract sketch and strokes with the project's extractors, generate with the model under each
setting of each study, and measure FID/KID against the photos (beside the real-vs-real floor: N other photos against
the same set), sketch F1 (2 px), stroke error (ΔE after a σ = side/32 blur) and diversity. Generated images are kept
under ``OUT/samples``, each beside a record of what made it (the weights' sums, backend, setting, seeds, inputs), so
a re-run skips the settings finished the same way and makes the others again (resumable); every seed is fixed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from diss import defaults
from diss.checks import check_output_size
from diss.data.cache import PrepareConfig, make_triple
from diss.data.images import ImageLoadError, center_square, find_images, load_image, resize
from diss.data.sketch import extract_sketch
from diss.errors import DissError, require
from diss.evaluate.config import STUDIES, EvalConfig
from diss.evaluate.metrics import (
    diversity,
    frechet_distance,
    inception_features,
    kernel_inception_distance,
    paired_fid_difference,
    sketch_f1,
    stroke_error,
)
from diss.evaluate.report import write_grid, write_plots, write_report
from diss.folder import default_steps, resolve_model, sha256_file
from diss.outputs import save_npy, write_json
from diss.runtime import seeded

log = logging.getLogger(__name__)


def load_photos(folder: str, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """2n readable photos spread evenly over the folder in name order, alternately into the evaluation set and the
    floor set, so both hold the same mix (folders sorted by class, as both shipped domains are, would otherwise give
    the first classes to one and the next to the other); fewer photos → halves of what there is."""
    paths = find_images(folder)
    photos = []
    for i in _spread(len(paths), 2 * n):
        try:
            photos.append(load_image(paths[i]))
        except ImageLoadError as e:
            log.warning("skipped %s", e)
    if len(photos) < 4:
        raise DissError(f"{folder} has {len(photos)} readable photos; evaluation needs at least 4")
    half = min(n, len(photos) // 2)
    return photos[0::2][:half], photos[1::2][:half]


def _spread(count: int, k: int) -> list[int]:
    """k indices in [0, count), evenly spaced from the first to the last (all of them when k ≥ count)."""
    if k >= count:
        return list(range(count))
    return sorted({int(i) for i in np.linspace(0, count - 1, k).round()})


def _settings(cfg: EvalConfig) -> dict[str, dict]:
    """Every setting to generate, by name → pipeline keyword arguments (plus study / label)."""
    base = dict(
        sketch_guidance_scale=cfg.sketch_scale,
        stroke_guidance_scale=cfg.stroke_scale,
        realism=cfg.realism,
        sampler=cfg.sampler,
        num_inference_steps=cfg.steps,
    )
    if cfg.fast:  # the student (a setting without it is the folder's choice, as before: samples cached then stay valid)
        base["fast"] = True
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
        if not values or not all(1 <= v <= defaults.MAX_STEPS for v in values):
            raise DissError(f"{spec!r}: step counts must be 1 to {defaults.MAX_STEPS}")
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
        images = pipe(*conditions, num_images=len(sk), generator=generators, output_type="np", output_size=pipe.size,
                      **extra, **kw).images  # fmt: skip
        out.append(to_uint8(images))
    return np.concatenate(out)


def _cached(path: Path, key: dict, make, *args) -> np.ndarray:
    """The images an earlier run saved at ``path`` when its record beside them (``NAME.json``) holds the same ``key``
    (model weights, backend, setting, seeds, inputs) and they load as the uint8 images ``key`` expects; else
    ``make(*args)``, saved there with the key (a re-run skips them; a changed setting, model or input, or a damaged
    file, is remade). np.load without pickles: a stale or altered file can only be refused, never run."""
    record, key = path.with_suffix(".json"), json.loads(json.dumps(key))  # the key as it reads back from JSON
    if path.is_file() and record.is_file():
        try:
            same = json.loads(record.read_text(encoding="utf-8")) == key
            images = np.load(path) if same else None
        except (OSError, ValueError):  # unreadable, truncated, not an array: made again
            images = None
        if images is not None and images.dtype == np.uint8 and list(images.shape) == key["shape"]:
            return images
    record.unlink(missing_ok=True)  # no record vouches for images that are not written yet
    images = _made_under_another_name(path.parent, key)
    if images is None:
        images = make(*args)
    save_npy(path, images)
    write_json(record, key, indent=1)
    return images


def _generation(key: dict) -> dict:
    """A sample record without its study's labels: what the images depend on."""
    setting = {k: v for k, v in key.get("setting", {}).items() if k not in ("study", "value")}
    return {**key, "setting": setting}


def _made_under_another_name(folder: Path, key: dict) -> np.ndarray | None:
    """The images of another setting in ``folder`` made the same way (e.g. the realism study's realism 1 and the base
    setting at realism 1: the same images, bit for bit), checked as ``_cached`` checks its own; else None."""
    wanted = _generation(key)
    for record in sorted(folder.glob("*.json")):
        try:
            same = _generation(json.loads(record.read_text(encoding="utf-8"))) == wanted
            images = np.load(record.with_suffix(".npy")) if same else None
        except (OSError, ValueError, AttributeError):  # unreadable or not a record: not reused
            continue
        if images is not None and images.dtype == np.uint8 and list(images.shape) == key["shape"]:
            log.info("reused %s's images (the same setting)", record.stem)
            return images
    return None


def _sample_keys(pipe, model_folder: Path, sketches: np.ndarray, strokes: np.ndarray) -> dict:
    """What every setting's images depend on besides the setting and the seed: the weights (their SHA-256), the
    backend, the device and the inputs (a SHA-256 of the sketches and strokes, which the photos, N, seed and size
    make)."""
    inputs = hashlib.sha256()
    for a in (sketches, strokes):
        inputs.update(repr(a.shape).encode())
        inputs.update(np.ascontiguousarray(a).tobytes())
    files = sorted(model_folder.rglob("*.safetensors"))
    weights = {p.relative_to(model_folder).as_posix(): sha256_file(p) for p in files}
    return {"weights": weights, "backend": getattr(pipe, "backend", "torch"), "device": str(pipe.device),
            "inputs": inputs.hexdigest()}  # fmt: skip


def evaluation_inputs(photos, floor_photos, size: int, seed: int) -> tuple[np.ndarray, ...]:
    """(photos, their sketches, their strokes, the floor's other photos) at ``size``, uint8, as ``diss evaluate
    --seed`` makes them from ``load_photos``' two sets."""
    prep = PrepareConfig(size=size, seed=seed)
    triples = [make_triple(p, prep, seed + i) for i, p in enumerate(photos)]
    real = np.stack([t[0] for t in triples])
    sketches = np.stack([t[1] for t in triples])
    strokes = np.stack([t[2] for t in triples])
    floor = np.stack([resize(center_square(p), size) for p in floor_photos])
    return real, sketches, strokes, floor


def per_image_scores(images: np.ndarray, sketches: np.ndarray, strokes: np.ndarray, size: int
                     ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Each image's sketch F1 (2 px, its lines extracted at 2× and thinned to ``size``) and stroke error (ΔE; NaN
    where its strokes paint nothing): (N,), (N,)."""
    n = len(sketches)
    f1 = [sketch_f1(sketches[i], extract_sketch(resize(images[i], 2 * size), size))[2] for i in range(n)]
    return np.array(f1, float), np.array([stroke_error(strokes[i], images[i]) for i in range(n)], float)


def _scores(images: np.ndarray, feats: np.ndarray, real_feats: np.ndarray, sketches, strokes, size: int) -> dict:
    """One setting's FID, KID, sketch F1 and stroke error."""
    f1, errors = per_image_scores(images, sketches, strokes, size)
    kid, kid_std = kernel_inception_distance(feats, real_feats)
    return {
        "fid": frechet_distance(feats, real_feats),
        "kid": kid,
        "kid_std": kid_std,
        "sketch_f1": float(np.mean(f1)),
        "stroke_error": float(np.nanmean(errors)),
    }


def _diversity(pipe, base: dict, sketches, strokes, samples_dir: Path, cfg: EvalConfig, keys: dict) -> float:
    """Mean pairwise diversity of ``diversity_samples`` samples of the base setting for each of the first inputs."""
    k, m = min(cfg.diversity_inputs, len(sketches)), cfg.diversity_samples
    rep = lambda a: np.repeat(a[:k], m, axis=0)  # noqa: E731
    key = {**keys, "setting": base, "seed": cfg.seed + 10_000, "inputs_first": k, "repeats": m,
           "shape": [k * m, *sketches.shape[1:], 3]}  # fmt: skip
    many = _cached(samples_dir / "diversity.npy", key, _generate, pipe, base, rep(sketches), rep(strokes),
                   cfg.seed + 10_000, cfg.batch_size)  # fmt: skip
    feats = inception_features(many).reshape(k, m, -1)
    return float(np.mean([diversity(f) for f in feats]))


def _step_differences(metrics: dict, step_feats: dict, real_feats: np.ndarray, cfg: EvalConfig) -> None:
    """Each steps setting's FID difference to the reference, with its paired-bootstrap sd and 95% interval."""
    ref_name = "steps_{}_{}".format(*cfg.step_reference)
    for name, feats in step_feats.items():
        sd, low, high = paired_fid_difference(feats, step_feats[ref_name], real_feats, seed=cfg.seed)
        entry = metrics["settings"][name]
        entry["fid_difference"] = entry["fid"] - metrics["settings"][ref_name]["fid"]
        entry["fid_difference_sd"], entry["fid_difference_95"] = sd, [low, high]


def evaluate(cfg: EvalConfig, progress: bool = True) -> dict:
    """Run the studies and write report.md, metrics.json and plots into ``cfg.out``; returns the metrics."""
    from tqdm.auto import tqdm

    from diss.loading import load_pipeline
    from diss.outputs import output_dir

    require("matplotlib", "eval", "diss evaluate")  # its plots: said before any work
    unknown = set(cfg.studies) - set(STUDIES)
    if unknown:
        raise DissError(f"unknown studies {sorted(unknown)}; choose from {', '.join(STUDIES)}")
    if cfg.steps is None:  # the model's own default (its diss.json), or its student's; recorded in metrics.json
        cfg = replace(cfg, steps=defaults.STUDENT_STEPS if cfg.fast else default_steps(cfg.model))
    settings = _settings(cfg)  # a bad setting is refused before anything is loaded or written
    pipe = load_pipeline(cfg.model, backend=cfg.backend, verbose=cfg.verbose)
    pipe.set_progress_bar_config(disable=True)  # the settings' bar shows the progress
    if cfg.compile:
        pipe.compile()
    check_output_size(pipe, cfg.size, "--size")
    out = output_dir(cfg.out)  # made only once the model loaded: a failed start leaves nothing behind
    photos, floor_photos = load_photos(cfg.data, cfg.num)  # read once: the cascade study takes them at its size
    real, sketches, strokes, floor = evaluation_inputs(photos, floor_photos, pipe.size, cfg.seed)
    real_feats = inception_features(real)
    floor_feats = inception_features(floor)
    metrics: dict = {
        "n": len(real),
        "size": pipe.size,
        "config": {k: v for k, v in asdict(cfg).items() if k != "settings"},
        "fid_floor": frechet_distance(floor_feats, real_feats),
        "kid_floor": kernel_inception_distance(floor_feats, real_feats)[0],
        "settings": {},
    }
    samples_dir = out / "samples"
    samples_dir.mkdir(exist_ok=True)
    keys = _sample_keys(pipe, resolve_model(cfg.model), sketches, strokes)  # what reused samples must match
    step_feats: dict[str, np.ndarray] = {}  # the steps study's features, for paired differences to the reference
    for name, setting in tqdm(settings.items(), desc="evaluate", unit="setting", disable=not progress):
        key = {**keys, "setting": setting, "seed": cfg.seed, "shape": [len(sketches), *sketches.shape[1:], 3]}
        images = _cached(samples_dir / f"{name}.npy", key, _generate, pipe, setting, sketches, strokes, cfg.seed,
                         cfg.batch_size)  # fmt: skip
        feats = inception_features(images)
        if setting["study"] == "steps":
            step_feats[name] = feats
        scores = _scores(images, feats, real_feats, sketches, strokes, pipe.size)
        metrics["settings"][name] = {"study": setting["study"], "value": setting.get("value"), **scores}
    if "base" in settings:
        metrics["diversity"] = _diversity(pipe, settings["base"], sketches, strokes, samples_dir, cfg, keys)
        base = metrics["settings"]["base"]
        metrics.update({key: base[key] for key in ("fid", "kid", "sketch_f1", "stroke_error")})
    if "steps" in cfg.studies:
        _step_differences(metrics, step_feats, real_feats, cfg)
        metrics["equal_quality"] = equal_quality(metrics["settings"], cfg)
    if "sdedit" in cfg.studies:
        metrics["sdedit"] = {k: v for k, v in metrics["settings"].items() if v["study"] == "sdedit"}
    if "drawings" in cfg.studies:
        from diss.evaluate.drawings import drawings_study

        metrics["drawings"] = drawings_study(pipe, real_feats, cfg, out, progress)
    if cfg.size is not None and cfg.size != pipe.size:
        from diss.evaluate.cascade import cascade_study

        metrics["cascade"] = cascade_study(pipe, photos, floor_photos, cfg.seed, cfg.batch_size, out, progress)
    write_json(out / "metrics.json", metrics)
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
