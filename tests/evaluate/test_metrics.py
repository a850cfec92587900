"""Metrics on cases with known answers."""

import numpy as np
import pytest

from diss.evaluate.metrics import (
    diversity,
    frechet_distance,
    gap_share,
    inception_features,
    kernel_inception_distance,
    line_following,
    paired_fid_difference,
    paired_mean_difference,
    sketch_f1,
    stroke_error,
)


def test_fid_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # two Gaussians with identity covariance, means 3 apart in one dimension: FID = 9 (+ sampling noise)
    b = rng.normal(size=(20000, 8))
    c = rng.normal(size=(20000, 8))
    c[:, 0] += 3
    assert frechet_distance(b, c) == pytest.approx(9.0, rel=0.03)
    # scaled covariance: tr(I + 4I − 2·2I) = d
    assert frechet_distance(b, 2 * rng.normal(size=(20000, 8))) == pytest.approx(8.0, rel=0.05)


def test_fid_with_fewer_samples_than_dimensions_matches_the_matrix_square_root():
    """N < d takes the (N_a, N_b) SVD path; it must equal the textbook formula with scipy's sqrtm."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(2)
    mix = rng.normal(size=(64, 64))
    a, b = rng.normal(size=(30, 64)) @ mix, rng.normal(size=(45, 64)) @ mix * 1.5 + 0.3
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = sqrtm(ca @ cb).real
    textbook = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(textbook, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6 * np.trace(ca))


def test_paired_fid_difference_is_zero_for_the_same_set_and_positive_for_a_worse_one():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(80, 16))
    ref = real + 0.3 * rng.normal(size=(80, 16))
    assert paired_fid_difference(ref, ref, real, resamples=50) == (0.0, 0.0, 0.0)
    sd, lo, hi = paired_fid_difference(ref + 1.0, ref, real, resamples=50)  # every feature off by 1: FID +16
    assert 0 < lo <= hi and lo > 8 and sd > 0
    with pytest.raises(Exception, match="one sample per input"):
        paired_fid_difference(ref[:10], ref, real)


def test_paired_mean_difference_sees_a_shift_the_unpaired_spread_would_hide_and_skips_undefined_rows():
    rng = np.random.default_rng(5)
    ref = rng.normal(scale=10.0, size=300)  # a wide spread between inputs
    cand = ref + 0.5 + 0.1 * rng.normal(size=300)  # the same inputs, each a little higher
    mean, lo, hi = paired_mean_difference(cand, ref, resamples=100)
    assert mean == pytest.approx(0.5, abs=0.05) and 0.4 < lo < mean < hi < 0.6
    cand[:5] = np.nan  # an image without strokes has no stroke error: left out, not counted as 0
    assert paired_mean_difference(cand, ref, resamples=20)[0] == pytest.approx(np.mean((cand - ref)[5:]))
    with pytest.raises(Exception, match="defined on both"):
        paired_mean_difference(np.full(3, np.nan), np.zeros(3))


def test_gap_share_is_0_for_the_photos_1_for_the_baseline_and_between_for_a_mix():
    rng = np.random.default_rng(4)
    real, other = rng.normal(size=(100, 8)), rng.normal(size=(120, 8))  # the floor: two draws of one distribution
    worse = real + 2.0  # the baseline, every feature off by 2
    assert gap_share(real, worse, real, other, resamples=20)[0] == pytest.approx(0.0)
    assert gap_share(worse, worse, real, other, resamples=20)[0] == pytest.approx(1.0)
    share, lo, hi = gap_share(real + 1.0, worse, real, other, resamples=50)  # half the shift: a quarter of FID's
    assert lo <= share <= hi and 0.15 < share < 0.35
    with pytest.raises(Exception, match="one image per photo"):
        gap_share(real[:10], worse, real, other)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    diff, _ = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 0.02 and diff > 10 * abs(same) + 0.05


def lines(shift=0):
    s = np.full((64, 64), 255, np.uint8)
    s[10:50, 20 + shift] = 0
    s[30, 5:60] = 0
    return s


def test_sketch_f1_tolerance():
    assert sketch_f1(lines(), lines()) == (1.0, 1.0, 1.0)
    assert sketch_f1(lines(), lines(shift=2))[2] == 1.0  # within the 2 px tolerance
    p, r, f = sketch_f1(lines(), lines(shift=6))
    assert f < 0.8 and p < 1 and r < 1
    blank = np.full((64, 64), 255, np.uint8)
    assert sketch_f1(blank, blank)[2] == 1.0 and sketch_f1(lines(), blank)[2] == 0.0


def test_line_following_prefers_the_photo_the_lines_were_drawn_from():
    """The lines of a photo's 256 px sketch: followed by the photo (and its 64 px version enlarged) far better than by
    another photo or by noise, whose edges are everywhere; not at all by a flat image; NaN without lines."""
    import cv2

    from conftest import sample_photos
    from diss.data.images import resize
    from diss.data.sketch import extract_sketch

    photos = sample_photos(512)
    names = list(photos)
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    for i, name in enumerate(names):
        image, sketch = resize(photos[name], 256), extract_sketch(photos[name], 256)
        own, enlarged = line_following(sketch, image, 64), line_following(sketch, resize(resize(image, 64), 256), 64)
        other = line_following(sketch, resize(photos[names[(i + 1) % len(names)]], 256), 64)
        assert min(own, enlarged) > other + 0.2 and own > line_following(sketch, noise, 64) + 0.1, name
        assert line_following(sketch, cv2.GaussianBlur(image, (0, 0), 1), 64) > other + 0.2, name
    assert line_following(sketch, np.full_like(image, 128), 64) == 0.0
    assert np.isnan(line_following(np.full((256, 256), 255, np.uint8), image, 64))


def test_stroke_error_zero_for_matching_colours_and_ignores_unpainted():
    stroke = np.full((64, 64, 3), 255, np.uint8)
    stroke[:, :32] = (200, 30, 30)
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = (200, 30, 30)  # right half black: it is unpainted in the strokes, so it does not count
    assert stroke_error(stroke, image) < 3.0  # only the blur across the paint edge remains
    wrong = image.copy()
    wrong[:, :32] = (30, 30, 200)
    assert stroke_error(stroke, wrong) > 50
    assert np.isnan(stroke_error(np.full((8, 8, 3), 255, np.uint8), image[:8, :8]))


def test_diversity():
    same = np.tile(np.arange(1, 5, dtype=float), (3, 1))
    assert diversity(same) == pytest.approx(0.0, abs=1e-12)
    assert diversity(np.eye(3)) == pytest.approx(1.0)


@pytest.mark.slow
def test_inception_features_on_real_photos(photos):
    imgs = np.stack(list(photos.values()))  # 5 × 96 px photos
    feats = inception_features(imgs, batch_size=3)
    assert feats.shape == (5, 2048) and np.isfinite(feats).all()
    assert np.allclose(feats, inception_features(imgs), atol=1e-4)  # batching does not change features
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-3)
    noise = np.random.default_rng(0).integers(0, 255, imgs.shape, dtype=np.uint8)
    assert frechet_distance(feats, inception_features(noise)) > 50
    assert diversity(feats) > 0.05
