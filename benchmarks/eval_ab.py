"""Two or more ``diss evaluate`` reports on the same photos, paired: is the candidate as good as the reference?
([3/4]: the distilled student against its teacher; [2/4]: a model's default steps.)

    python benchmarks/eval_ab.py VAL_DIR REFERENCE_REPORT CANDIDATE_REPORT [CANDIDATE_REPORT ...] [--setting base]

Each REPORT is the OUT folder of ``diss evaluate`` run with the same ``--data VAL_DIR``, ``--num`` and ``--seed`` (its
metrics.json says so; other reports are refused), holding the setting's images in ``samples/SETTING.npy``. For each
candidate against the reference, row i of both made from the same photo's drawing and seed, rows resampled together:
FID − the reference's with its 95% paired-bootstrap interval, and the mean differences of each image's sketch F1 and
stroke ΔE with their intervals, also as a share of the reference's mean. Printed; ``--out FILE`` also writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from diss.errors import DissError
from diss.evaluate.metrics import frechet_distance, inception_features, paired_fid_difference, paired_mean_difference
from diss.evaluate.run import evaluation_inputs, load_photos, per_image_scores
from diss.outputs import write_json


def read_report(folder: str, setting: str) -> tuple[dict, np.ndarray]:
    """A report's metrics.json and the setting's images (N, S, S, 3) uint8 (np.load without pickles)."""
    path = Path(folder)
    try:
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        images = np.load(path / "samples" / f"{setting}.npy")
    except (OSError, ValueError) as e:
        raise DissError(f"{folder}: not a diss evaluate report with samples/{setting}.npy ({e})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != metrics.get("n"):
        raise DissError(f"{folder}: samples/{setting}.npy does not hold the report's {metrics.get('n')} images")
    return metrics, images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="the held-out photos every report was made from (diss evaluate --data)")
    ap.add_argument("reference")
    ap.add_argument("candidates", nargs="+")
    ap.add_argument("--setting", default="base", help="the setting compared (default: base)")
    ap.add_argument("--out", help="also write the figures to this JSON file")
    args = ap.parse_args()
    reports = {name: read_report(name, args.setting) for name in [args.reference, *args.candidates]}
    same = {(m["config"]["num"], m["config"]["seed"], m["size"], m["n"]) for m, _ in reports.values()}
    if len(same) != 1:
        raise DissError("the reports were made with different --num, --seed or size; pair only reports of one setup")
    num, seed, size, n = same.pop()
    photos, floor = load_photos(args.data, num)
    real, sketches, strokes, _ = evaluation_inputs(photos, floor, size, seed)
    if len(real) != n:
        raise DissError(f"{args.data} gives {len(real)} photos, the reports {n}: not the photos they were made from")
    real_feats = inception_features(real)
    scored = {}
    for name, (_, images) in reports.items():
        f1, delta_e = per_image_scores(images, sketches, strokes, size)
        scored[name] = {"feats": inception_features(images), "sketch_f1": f1, "stroke_error": delta_e}
    ref = scored[args.reference]
    results: dict = {"n": n, "size": size, "setting": args.setting, "reference": args.reference, "reports": {}}
    print(f"N = {n}, {size} px, setting {args.setting!r}; reference {args.reference}")
    for name, s in scored.items():
        row = {"fid": frechet_distance(s["feats"], real_feats), "sketch_f1": float(np.nanmean(s["sketch_f1"])),
               "stroke_error": float(np.nanmean(s["stroke_error"]))}  # fmt: skip
        if name != args.reference:
            _, lo, hi = paired_fid_difference(s["feats"], ref["feats"], real_feats, seed=seed)
            ref_row = results["reports"][args.reference]  # the reference comes first
            row["fid_minus_reference"] = [row["fid"] - ref_row["fid"], lo, hi]
            for key in ("sketch_f1", "stroke_error"):
                diff = paired_mean_difference(s[key], ref[key], seed=seed)
                row[f"{key}_minus_reference"] = list(diff)
                row[f"{key}_share"] = [d / ref_row[key] for d in diff]
        results["reports"][name] = row
        line = f"{name}: FID {row['fid']:.2f}, sketch F1 {row['sketch_f1']:.3f}, stroke ΔE {row['stroke_error']:.2f}"
        if name != args.reference:
            d, f, e = row["fid_minus_reference"], row["sketch_f1_share"], row["stroke_error_share"]
            share = d[0] / ref_row["fid"]
            line += (f"; − reference: FID {d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}] ({share:+.1%}), "
                     f"F1 {f[0]:+.1%} [{f[1]:+.1%}, {f[2]:+.1%}], ΔE {e[0]:+.1%} [{e[1]:+.1%}, {e[2]:+.1%}]")
        print(line)
    if args.out:
        write_json(args.out, results, indent=1)


if __name__ == "__main__":
    try:
        main()
    except DissError as e:
        raise SystemExit(f"error: {e}") from None
