import cv2
import numpy as np
import pytest

from diss.conventions import LINE_MAX
from diss.data.sketch import SketchConfig, extract_sketch, sketch_lines


def disc_image(side=128, radius=35, fg=(200, 40, 60), bg=(40, 120, 50), noise=6.0, seed=0):
    rng = np.random.default_rng(seed)
    img = np.empty((side, side, 3), np.float32)
    img[:] = bg
    mask = np.zeros((side, side), np.uint8)
    cv2.circle(mask, (side // 2, side // 2), radius, 1, -1)
    img[mask > 0] = fg
    img += rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def test_shape_dtype_range_and_paper(photos):
    for rgb in photos.values():
        s = extract_sketch(rgb, 48)
        assert s.shape == (48, 48) and s.dtype == np.uint8
        ink = s < LINE_MAX
        assert 0.01 < ink.mean() < 0.35  # a drawing: some lines, mostly paper
        assert np.median(s) == 255


def test_deterministic(photos):
    rgb = photos["astronaut"]
    assert np.array_equal(extract_sketch(rgb, 48), extract_sketch(rgb.copy(), 48))


def test_lines_follow_the_contour_not_the_texture():
    img, mask = disc_image()
    lines = sketch_lines(img)
    boundary = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    near = cv2.dilate(boundary.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert lines.sum() > 0.7 * boundary.sum() / 2  # most of the circle is drawn (Canny gives 1 px of the 2 px band)
    assert lines[~near].sum() <= 0.05 * lines.sum()  # and almost nothing else: the noise texture gives no speckle
    n, _ = cv2.connectedComponents(lines.astype(np.uint8), connectivity=8)
    assert n - 1 <= 3  # a few long strokes, not fragments


def test_flat_image_gives_blank_paper():
    flat = np.full((64, 64, 3), 128, np.uint8)
    assert (extract_sketch(flat, 32) == 255).all()


@pytest.mark.parametrize("name", ["astronaut", "coffee", "rocket"])
def test_detail_knob_adds_lines(photos, name):
    rgb = photos[name]
    low = (extract_sketch(rgb, 48, SketchConfig(detail=0.0)) < LINE_MAX).sum()
    high = (extract_sketch(rgb, 48, SketchConfig(detail=1.0)) < LINE_MAX).sum()
    assert high > low


def test_line_width_scales():
    img, _ = disc_image(side=256, radius=70)
    thin = (extract_sketch(img, 128, SketchConfig(line_width=0.5)) < LINE_MAX).sum()
    thick = (extract_sketch(img, 128, SketchConfig(line_width=2.0)) < LINE_MAX).sum()
    assert thick > 2 * thin


def test_a_larger_sketch_has_the_lines_of_a_smaller_one_enlarged():
    """Real photos at 512 px: the 256 px sketch matches the 128 px one enlarged (lines within 2 px at 256), with as
    much ink for its size; before lines were found at LINE_SIDE, a 256 px sketch kept a quarter of it (F1 ~0.4)."""
    from conftest import sample_photos
    from diss.data.images import resize
    from diss.evaluate.metrics import sketch_f1

    for name, photo in sample_photos(512).items():
        small, large = extract_sketch(resize(photo, 256), 128), extract_sketch(photo, 256)
        enlarged = resize(small, 256)
        assert sketch_f1(enlarged, large)[2] >= 0.8, name
        ink_ratio = (large < LINE_MAX).sum() / max(1, 4 * (small < LINE_MAX).sum())
        assert 0.5 <= ink_ratio <= 1.5, (name, ink_ratio)
        lines = extract_sketch(resize(photo, 1024), 512)  # 512 px: the same lines again, twice as wide as at 256
        assert sketch_f1(resize(large, 512), lines, tolerance=4.0)[2] >= 0.8, name
