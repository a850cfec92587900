"""``diss evaluate --size 256``: the cascade at its own size, beside two baselines, on held-out photos.

- cascade: the base's images (its defaults) through the upsampler, with the sketch at 256 px;
- lanczos: the same base images enlarged with Lanczos (what one would do without an upsampler);
- sr / sr_lanczos: the upsampler alone, and Lanczos, on the real photos shrunk to 64 (the upsampler's own quality,
  apart from the base's).
FID/KID against the photos at 256 px beside their real-vs-real floor; the paired-bootstrap interval of cascade −
lanczos (same drawings, same seeds); on the shrunk photos, the share of Lanczos' gap to the floor that the upsampler
leaves (against the floor's other photos, with a bootstrap interval) and its FID over Lanczos' to the same photos;
sketch F1 at 256 (2 px, and 2 px of the base's size) against the base's at 64; how closely the images follow the
sketch they were given (``metrics.line_following``: its lines against the images' edges, within a pixel of the base's
size, whatever the extractor draws at 256); a contact sheet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from diss.conventions import from_model, to_model
from diss.data.cache import PrepareConfig, make_triple
from diss.data.images import center_square, resize
from diss.data.sketch import extract_sketch
from diss.evaluate.metrics import (
    frechet_distance,
    gap_share,
    inception_features,
    kernel_inception_distance,
    line_following,
    paired_fid_difference,
    sketch_f1,
)
from diss.grid import save_grid
from diss.outputs import save_npy
from diss.runtime import seeded
from diss.upsampler import shrink


def enlarge_lanczos(images: np.ndarray, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.LANCZOS)) for a in images])


def mean_f1(sketches: np.ndarray, images: np.ndarray, size: int, tolerances: tuple[float, ...]) -> list[float]:
    """Mean sketch F1 of ``images`` to ``sketches`` at each tolerance (pixels), lines extracted as the inputs were."""
    lines = [extract_sketch(resize(im, 2 * size), size) for im in images]
    return [
        float(np.mean([sketch_f1(s, e, tol)[2] for s, e in zip(sketches, lines, strict=True)])) for tol in tolerances
    ]


def cascade_inputs(photos, size: int, base: int, seed: int) -> dict[str, np.ndarray]:
    """What the study draws from ``photos``, as ``diss prepare`` would: the photos at ``size`` ("real"), their sketches
    at ``size`` and at the base's size ("sketches", "small_sketches") and their strokes ("strokes"), uint8."""
    triples = [make_triple(p, PrepareConfig(size=size, seed=seed), seed + i) for i, p in enumerate(photos)]
    small = [make_triple(p, PrepareConfig(size=base, seed=seed), seed + i)[1] for i, p in enumerate(photos)]
    return {"real": np.stack([t[0] for t in triples]), "sketches": np.stack([t[1] for t in triples]),
            "strokes": np.stack([t[2] for t in triples]), "small_sketches": np.stack(small)}  # fmt: skip


def make_base(pipe, inputs: dict, seed: int, batch: int, bar) -> torch.Tensor:
    """The base's images (its defaults) of ``cascade_inputs``, (N, 3, S, S) in [-1, 1]: image i seeded ``seed + i``;
    the base takes the sketch extracted at its size (as in the other studies)."""
    out = []
    for start in range(0, len(inputs["strokes"]), batch):
        sk, st = list(inputs["small_sketches"][start : start + batch]), list(inputs["strokes"][start : start + batch])
        generators = seeded(range(seed + start, seed + start + len(sk)))
        out.append(pipe(sk, st, num_images=len(sk), generator=generators, output_size=pipe.size,
                        output_type="latent").images)  # fmt: skip
        bar.update(len(sk))
    return torch.cat(out)


def upsample_all(pipe, low: torch.Tensor, sketches: np.ndarray, seed: int, batch: int, bar, **kw) -> np.ndarray:
    """``pipe``'s upsampler on ``low`` (N, 3, s, s) in [-1, 1] with the sketches at the upsampler's size, image i
    seeded ``seed + i`` (``kw``: ``DiSSPipeline.upsample``'s, e.g. ``steps``): uint8 (N, S, S, 3)."""
    out = []
    for start in range(0, len(low), batch):
        sk = list(sketches[start : start + batch])
        generators = seeded(range(seed + start, seed + start + len(sk)))
        out.append(from_model(pipe.upsample(low[start : start + len(sk)], sk, generator=generators, **kw)))
        bar.update(len(sk))
    return np.concatenate(out)


def shrink_photos(real: np.ndarray, factor: int) -> torch.Tensor:
    """The photos (N, S, S, 3) uint8 shrunk ``factor`` times as in training: (N, 3, S/f, S/f) in [-1, 1]."""
    return shrink(torch.stack([to_model(a) for a in real]), factor)


def cascade_study(pipe, photos, floor_photos, seed: int, batch: int, out: Path, progress: bool = True) -> dict:
    """The metrics of the module's docstring for ``photos`` (the floor from ``floor_photos``); a contact sheet and
    the images (``OUT/samples/cascade_*.npy``) in ``out``."""
    from tqdm.auto import tqdm

    size, base = pipe.output_sizes[-1], pipe.size
    inputs = cascade_inputs(photos, size, base, seed)
    real, sketches, small_sketches = inputs["real"], inputs["sketches"], inputs["small_sketches"]
    bar = tqdm(total=3 * len(real), desc=f"cascade {base} → {size}", unit="img", disable=not progress)
    with torch.inference_mode():
        x0 = make_base(pipe, inputs, seed, batch, bar)  # (N, 3, 64, 64): each image's seed serves both stages
        cascade, low = upsample_all(pipe, x0, sketches, seed, batch, bar), shrink_photos(real, pipe.upsampler_factor)
        small, lows, sr = from_model(x0), from_model(low), upsample_all(pipe, low, sketches, seed, batch, bar)
    bar.close()
    sets = {"cascade": cascade, "lanczos": enlarge_lanczos(small, size), "sr": sr,
            "sr_lanczos": enlarge_lanczos(lows, size)}  # fmt: skip
    real_feats = inception_features(real)
    floor = inception_features(np.stack([resize(center_square(p), size) for p in floor_photos]))
    feats = {name: inception_features(images) for name, images in sets.items()}
    metrics: dict = {"size": size, "factor": pipe.upsampler_factor, "n": len(real),
                     "fid_floor": frechet_distance(floor, real_feats), "settings": {}}  # fmt: skip
    for name, f in feats.items():
        metrics["settings"][name] = {
            "fid": frechet_distance(f, real_feats),
            "kid": kernel_inception_distance(f, real_feats)[0],
        }
    sd, lo, hi = paired_fid_difference(feats["cascade"], feats["lanczos"], real_feats, seed=seed)
    fid = {name: v["fid"] for name, v in metrics["settings"].items()}
    metrics["cascade_minus_lanczos"] = {"fid": fid["cascade"] - fid["lanczos"], "sd": sd, "95": [lo, hi]}
    # the upsampler on the photos shrunk by its factor: its FID to the same photos over Lanczos' (a perfect upsampler
    # scores 0; the real-vs-real floor, N *other* photos, lies above Lanczos here: the pairs share their content)
    metrics["sr_gap_share"] = fid["sr"] / max(fid["sr_lanczos"], 1e-9)
    sd, lo, hi = paired_fid_difference(feats["sr"], feats["sr_lanczos"], real_feats, seed=seed)
    metrics["sr_minus_lanczos"] = {"fid": fid["sr"] - fid["sr_lanczos"], "sd": sd, "95": [lo, hi]}
    # the reading, against the floor's N other photos (no shared content): (FID(sr) − floor) over
    # (FID(Lanczos) − floor), all to those photos; the target: ≤ 0.5
    share, lo, hi = gap_share(feats["sr"], feats["sr_lanczos"], real_feats, floor, seed=seed)
    metrics["sr_unpaired"] = {"fid": frechet_distance(feats["sr"], floor),
                              "fid_lanczos": frechet_distance(feats["sr_lanczos"], floor), "share": share,
                              "95": [lo, hi]}  # fmt: skip
    # 2 px at every size, and 2 px of the base's size (8 px at 256 for 64): the same lines, judged as coarsely
    tolerances = (2.0, 2.0 * size / base)
    f1 = {name: mean_f1(sketches, sets[name], size, tolerances) for name in ("cascade", "lanczos", "sr")}
    metrics["sketch_f1"] = {name: v[0] for name, v in f1.items()}
    metrics["sketch_f1"]["base"] = mean_f1(small_sketches, small, base, (2.0,))[0]
    metrics["sketch_f1_scaled"] = {"tolerance": tolerances[1]} | {name: v[1] for name, v in f1.items()}
    metrics["line_following"] = {name: float(np.nanmean([line_following(s, im, base) for s, im in
                                                         zip(sketches, sets[name], strict=True)]))
                                 for name in ("cascade", "lanczos", "sr")}  # fmt: skip
    k = min(6, len(real))
    rows = [[real[i], sets["lanczos"][i], cascade[i], sets["sr_lanczos"][i], sr[i]] for i in range(k)]
    shrunk = f"photo/{pipe.upsampler_factor}"
    labels = ["photo", "base + Lanczos", "cascade", f"{shrunk} + Lanczos", f"{shrunk} + upsampler"]
    save_grid(out / "cascade.png", rows, col_labels=labels)  # at full size
    samples = out / "samples"
    samples.mkdir(exist_ok=True)
    for name, images in sets.items():
        save_npy(samples / f"cascade_{name}.npy", images)  # whole or not at all
    return metrics
