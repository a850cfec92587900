"""Two cascades' upsamplers side by side on the same images ([4/4]: is a retrained upsampler better than the shipped
one?): the reference's base makes N images of held-out photos' drawings once (its defaults, image i seeded i), and
each upsampler enlarges those same images, and the same photos shrunk by its factor, with the same seeds.

    python benchmarks/upsampler_ab.py VAL_DIR REFERENCE[:STEPS] CANDIDATE[:STEPS] [--num 200] [--out DIR]

STEPS: the upsampler's sampling steps (default: the pipeline's).

Printed and written to OUT/metrics.json, for each: FID/KID at the upsampler's size to the same photos, and, for the
candidate, FID − the reference's with its 95% paired-bootstrap interval (rows resampled together); how closely the
images follow the lines they were given (``metrics.line_following``: the sketch at that size against the images'
edges, within a pixel of the base's size, whatever the extractor draws at 256) with the paired interval of the
difference; sketch F1 at 2 px and at 2 px of the base's size. OUT/ab.png: the first 6 photos, both cascades and both
upsamplers on the shrunk photo, at full size. The photos are picked as ``diss evaluate --num`` picks them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from diss.conventions import from_model
from diss.errors import DissError
from diss.evaluate.cascade import cascade_inputs, make_base, mean_f1, shrink_photos, upsample_all
from diss.evaluate.metrics import (
    frechet_distance,
    inception_features,
    kernel_inception_distance,
    line_following,
    paired_fid_difference,
    paired_mean_difference,
)
from diss.evaluate.run import load_photos
from diss.folder import resolve_model
from diss.grid import save_grid
from diss.pipeline import DiSSPipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--num", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="build/upsampler-ab")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = {"reference": args.reference.partition(":"), "candidate": args.candidate.partition(":")}  # as upsampler_sr
    pipes = {name: DiSSPipeline.from_pretrained(resolve_model(folder)) for name, (folder, _, _) in specs.items()}
    steps = {name: {"steps": int(k)} if k else {} for name, (_, _, k) in specs.items()}
    ref, cand = pipes["reference"], pipes["candidate"]
    if ref.upsampler is None or cand.upsampler is None:
        raise DissError("both folders must be cascades (a base and an upsampler)")
    size, base = ref.output_sizes[-1], ref.size
    if (cand.output_sizes[-1], cand.size, cand.upsampler_factor) != (size, base, ref.upsampler_factor):
        raise DissError("the two cascades must enlarge the same size by the same factor")
    photos, _ = load_photos(args.data, args.num)
    inputs = cascade_inputs(photos, size, base, args.seed)
    real, sketches = inputs["real"], inputs["sketches"]
    bar = tqdm(total=5 * len(real), desc=f"upsamplers {base} → {size}", unit="img")
    sets = {}
    with torch.inference_mode():
        x0 = make_base(ref, inputs, args.seed, args.batch, bar)  # (N, 3, 64, 64): one base image per drawing
        low = shrink_photos(real, ref.upsampler_factor)  # (N, 3, 64, 64)
        for name, pipe in pipes.items():
            pipe.set_progress_bar_config(disable=True)
            kw = steps[name]
            sets[f"{name} cascade"] = upsample_all(pipe, x0, sketches, args.seed, args.batch, bar, **kw)
            sets[f"{name} photo/{pipe.upsampler_factor}"] = upsample_all(pipe, low, sketches, args.seed, args.batch,
                                                                         bar, **kw)  # fmt: skip
    bar.close()
    real_feats = inception_features(real)
    feats = {name: inception_features(images) for name, images in sets.items()}
    follows = {name: np.array([line_following(s, im, base) for s, im in zip(sketches, images, strict=True)])
               for name, images in sets.items()}  # fmt: skip
    metrics: dict = {"n": len(real), "size": size, "reference": args.reference, "candidate": args.candidate,
                     "settings": {}}  # fmt: skip
    for name, images in sets.items():
        f1 = mean_f1(sketches, images, size, (2.0, 2.0 * size / base))
        metrics["settings"][name] = {"fid": frechet_distance(feats[name], real_feats),
                                     "kid": kernel_inception_distance(feats[name], real_feats)[0],
                                     "line_following": float(np.nanmean(follows[name])), "sketch_f1": f1[0],
                                     "sketch_f1_scaled": f1[1]}  # fmt: skip
        print(name, json.dumps({k: round(v, 4) for k, v in metrics["settings"][name].items()}))
    for kind in ("cascade", f"photo/{ref.upsampler_factor}"):
        a, b = f"candidate {kind}", f"reference {kind}"
        fid = metrics["settings"][a]["fid"] - metrics["settings"][b]["fid"]
        _, lo, hi = paired_fid_difference(feats[a], feats[b], real_feats, seed=args.seed)
        lf, lf_lo, lf_hi = paired_mean_difference(follows[a], follows[b], seed=args.seed)
        metrics[f"candidate_minus_reference {kind}"] = {"fid": fid, "fid_95": [lo, hi], "line_following": lf,
                                                        "line_following_95": [lf_lo, lf_hi]}  # fmt: skip
        print(f"{kind}: candidate − reference: FID {fid:+.2f} [{lo:+.2f}, {hi:+.2f}]; line following {lf:+.4f} "
              f"[{lf_lo:+.4f}, {lf_hi:+.4f}]")  # fmt: skip
    k = min(6, len(real))
    save_grid(out / "ab.png", [[real[i], from_model(x0[i])] + [v[i] for v in sets.values()] for i in range(k)],
              col_labels=["photo", "base"] + list(sets))  # fmt: skip
    tmp = out / ".metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1))
    tmp.replace(out / "metrics.json")


if __name__ == "__main__":
    try:
        main()
    except DissError as e:
        raise SystemExit(f"error: {e}") from None
