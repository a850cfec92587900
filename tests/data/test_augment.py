import numpy as np

from diss.conventions import stroke_mask
from diss.data.augment import (
    AugmentConfig,
    augment,
    drop_lines,
    elastic_warp,
    jitter_colors,
    jitter_line_width,
    random_partial_mask,
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
    assert (out < 128).sum() < (sketch < 128).sum()


def test_elastic_warp_is_small(photos):
    _, sketch, _ = triple(photos)
    out = elastic_warp(sketch, np.random.default_rng(0), pixels=1.5)
    assert not np.array_equal(out, sketch)
    assert abs(int((out < 128).sum()) - int((sketch < 128).sum())) < 0.5 * (sketch < 128).sum()


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
