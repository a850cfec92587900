import numpy as np

from diss.conventions import LINE_MAX, stroke_mask
from diss.data.drawings import STYLES, make_drawing, make_drawings


def test_drawings_are_seeded_and_cover_every_style():
    a, b = make_drawings(14), make_drawings(14)
    assert [d.style for d in a] == list(STYLES) * 2
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.sketch, y.sketch) and np.array_equal(x.stroke, y.stroke)
    assert not np.array_equal(make_drawing(0, seed=1).stroke, a[0].stroke)  # another seed, another drawing


def test_each_drawing_has_lines_and_paint_where_its_style_says():
    for d in make_drawings(7):
        assert d.sketch.shape == (128, 128) and d.stroke.shape == (128, 128, 3)
        lines, painted = (d.sketch < LINE_MAX).mean(), stroke_mask(d.stroke).mean()
        assert 0.01 < lines < 0.4, d.name
        if d.style in ("flat", "gradient", "mouse"):
            assert painted > 0.95, d.name  # the whole canvas is painted
        if d.style in ("sparse", "partial"):
            assert painted < 0.6, d.name  # white paper left: no stroke there
