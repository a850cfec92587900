import cv2
import numpy as np
import pytest

from diss.conventions import LINE_MAX, PAINT_MAX, stroke_mask
from diss.data.augment import (
    AugmentConfig,
    augment,
    blur_paint,
    cartoon,
    coarsen,
    drop_lines,
    elastic_warp,
    jitter_colors,
    jitter_line_width,
    loose_strokes,
    move,
    random_partial_mask,
    recolour,
    repaint,
)
from diss.data.sketch import extract_sketch
from diss.data.stroke import extract_stroke


def triple(photos, name="astronaut"):
    rgb = photos[name]
    return rgb[::2, ::2].copy(), extract_sketch(rgb, 48), extract_stroke(rgb, 48, seed=0)


def test_off_is_identity(photos):
    image, sketch, stroke = triple(photos)
    out = augment(image, sketch, stroke, np.random.default_rng(0), AugmentConfig.off())
    for a, b in zip(out, (image, sketch, stroke), strict=True):
        assert np.array_equal(a, b)


def test_shapes_dtypes_and_determinism(photos):
    image, sketch, stroke = triple(photos)
    a = augment(image, sketch, stroke, np.random.default_rng(5))
    b = augment(image, sketch, stroke, np.random.default_rng(5))
    for x, y, ref in zip(a, b, (image, sketch, stroke), strict=True):
        assert x.shape == ref.shape and x.dtype == np.uint8
        assert np.array_equal(x, y)


def test_flip_is_paired(photos):
    image, sketch, stroke = triple(photos)
    cfg = AugmentConfig(**{**AugmentConfig.off().__dict__, "flip": 1.0})
    i2, s2, c2 = augment(image, sketch, stroke, np.random.default_rng(0), cfg)
    assert np.array_equal(i2, image[:, ::-1]) and np.array_equal(s2, sketch[:, ::-1])
    assert np.array_equal(c2, stroke[:, ::-1])


def test_line_width_jitter_changes_ink_amount(photos):
    _, sketch, _ = triple(photos)
    ink = (255 - sketch.astype(int)).sum()
    amounts = [(255 - jitter_line_width(sketch, np.random.default_rng(s)).astype(int)).sum() for s in range(12)]
    assert max(amounts) > ink * 1.1 and min(amounts) < ink
    assert min(amounts) > 0.4 * ink  # thinning never erases the drawing


def test_line_dropout_removes_ink_only(photos):
    _, sketch, _ = triple(photos)
    out = drop_lines(sketch, np.random.default_rng(1), share=0.5)
    assert (out >= sketch).all()  # only erases (paper is 255)
    assert (out < LINE_MAX).sum() < (sketch < LINE_MAX).sum()


def test_elastic_warp_is_small(photos):
    _, sketch, _ = triple(photos)
    out = elastic_warp(sketch, np.random.default_rng(0), pixels=1.5)
    assert not np.array_equal(out, sketch)
    assert abs(int((out < LINE_MAX).sum()) - int((sketch < LINE_MAX).sum())) < 0.5 * (sketch < LINE_MAX).sum()


def test_colour_jitter_keeps_white_gaps(photos):
    _, _, stroke = triple(photos)
    out = jitter_colors(stroke, np.random.default_rng(2))
    gaps = ~stroke_mask(stroke)
    assert np.array_equal(out[gaps], stroke[gaps])
    assert not np.array_equal(out, stroke)
    assert stroke_mask(out)[stroke_mask(stroke)].mean() > 0.99  # paint stays paint


def test_partial_mask_erases_to_white(photos):
    _, _, stroke = triple(photos)
    covered = [stroke_mask(random_partial_mask(stroke, np.random.default_rng(s))).mean() for s in range(8)]
    assert all(c < stroke_mask(stroke).mean() for c in covered)
    assert min(covered) > 0.0


def test_loose_replaces_the_strokes_only_and_is_seeded(photos):
    image, sketch, stroke = triple(photos)
    cfg = AugmentConfig(**{**AugmentConfig.off().__dict__, "loose": 1.0})
    a = augment(image, sketch, stroke, np.random.default_rng(3), cfg)
    b = augment(image, sketch, stroke, np.random.default_rng(3), cfg)
    assert np.array_equal(a[0], image) and np.array_equal(a[1], sketch)
    assert not np.array_equal(a[2], stroke) and np.array_equal(a[2], b[2])
    assert a[2].shape == stroke.shape and a[2].dtype == np.uint8


def test_loose_off_draws_nothing_from_the_generator(photos):
    """loose = 0 (the default) leaves every other augmentation's draws, and so earlier runs' data, as they were."""
    image, sketch, stroke = triple(photos)
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    augment(image, sketch, stroke, rng_a, AugmentConfig())
    augment(image, sketch, stroke, rng_b, AugmentConfig(loose=0.0))
    assert rng_a.random() == rng_b.random()


@pytest.mark.parametrize("seed", range(6))
def test_loose_paint_never_reads_as_no_stroke(photos, seed):
    image, _, stroke = triple(photos)
    out = loose_strokes(image, stroke, np.random.default_rng(seed))
    painted = stroke_mask(out)
    assert painted.any()
    assert out[painted].max() <= PAINT_MAX + 1  # paint stays paint: only unpainted pixels are white


def test_cartoon_is_a_few_flat_colours(photos):
    image, _, _ = triple(photos)
    flat = cartoon(image, np.random.default_rng(0))
    colours = np.unique(flat.reshape(-1, 3), axis=0)
    assert 2 <= len(colours) <= 6
    assert np.abs(flat.astype(float).mean((0, 1)) - image.astype(float).mean((0, 1))).max() < 60  # the photo's colours


def test_coarsen_paints_blocks_and_keeps_white_white(photos):
    _, _, stroke = triple(photos)
    out = coarsen(stroke, np.random.default_rng(1))
    rows = np.unique(out.reshape(-1, 3), axis=0)
    assert len(rows) <= 16 * 16 + 1  # one colour per cell at most
    white = np.full_like(stroke, 255)
    for f in (coarsen, blur_paint, move, recolour, repaint):
        assert np.array_equal(f(white, np.random.default_rng(0)), white)  # no paint in, no paint out


def test_blur_paint_does_not_bleed_white_into_paint():
    stroke = np.full((48, 48, 3), 255, np.uint8)
    stroke[:, :24] = (200, 30, 30)
    out = blur_paint(stroke, np.random.default_rng(0))
    inner = out[:, :16]
    assert np.abs(inner.astype(int) - (200, 30, 30)).max() <= 2  # the paint keeps its colour up to its edge
    assert (out[:, 32:] == 255).all()  # and the unpainted side stays unpainted


def test_move_shifts_the_paint(photos):
    _, _, stroke = triple(photos)
    moved = move(stroke, np.random.default_rng(2))
    assert moved.shape == stroke.shape and not np.array_equal(moved, stroke)
    assert abs(stroke_mask(moved).mean() - stroke_mask(stroke).mean()) < 0.3


def test_repaint_gives_each_colour_one_new_colour_of_any_hue():
    """Flat regions stay flat (one colour → one colour), hues move far (a palette no photo has), white stays white."""
    stroke = np.full((32, 48, 3), 255, np.uint8)
    stroke[:, :16] = (40, 140, 40)  # a green background
    stroke[:16, 16:32] = (230, 200, 30)  # yellow petals
    hues = []
    for seed in range(8):
        out = repaint(stroke, np.random.default_rng(seed))
        assert np.array_equal(stroke_mask(out), stroke_mask(stroke))  # paint stays paint, white stays "no stroke"
        for region in (out[:, :16], out[:16, 16:32]):
            assert len(np.unique(region.reshape(-1, 3), axis=0)) == 1
        hsv = cv2.cvtColor(out[:1, :1], cv2.COLOR_RGB2HSV)
        hues.append(int(hsv[0, 0, 0]))
    green = int(cv2.cvtColor(stroke[:1, :1], cv2.COLOR_RGB2HSV)[0, 0, 0])
    turned = [min(abs(h - green), 180 - abs(h - green)) for h in hues]  # OpenCV hue distance, of 90 at most
    assert max(turned) > 30  # far beyond recolour's ±10 (±20°)
    assert len(set(hues)) > 4  # a new hue for each seed, not one fixed map
