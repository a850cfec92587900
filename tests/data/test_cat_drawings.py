import numpy as np

from diss.conventions import LINE_MAX, stroke_mask
from diss.data.cat_drawings import CAT_STYLES, COATS, EYE_COLOURS, make_cat_drawing, make_cat_drawings
from diss.domains import CAT_EYES, EYE_RADIUS


def _eye_discs(side: int) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side]
    r = EYE_RADIUS * side
    return np.logical_or.reduce([(yy - y * side) ** 2 + (xx - x * side) ** 2 <= r * r for x, y in CAT_EYES])


def test_cats_are_seeded_and_cover_every_style():
    a, b = make_cat_drawings(18), make_cat_drawings(18)
    assert [d.style for d in a] == list(CAT_STYLES) * 2 and len(CAT_STYLES) == len(COATS) + 2
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.sketch, y.sketch) and np.array_equal(x.stroke, y.stroke)
    assert not np.array_equal(make_cat_drawing(0, seed=1).stroke, a[0].stroke)  # another seed, another cat
    assert len({d.name for d in a}) == 18


def test_each_cat_has_its_eyes_where_the_demo_repaints_them_and_paint_where_its_style_says():
    eyes = _eye_discs(128)
    for d in make_cat_drawings(9):
        assert d.sketch.shape == (128, 128) and d.stroke.shape == (128, 128, 3)
        lines, painted = d.sketch < LINE_MAX, stroke_mask(d.stroke)
        assert 0.02 < lines.mean() < 0.3, d.name
        assert lines[eyes].mean() > 0.1, d.name  # the eyes' outlines and pupils are drawn inside the discs
        eye_paint = {tuple(c) for c in d.stroke[eyes & painted]} & {tuple(c) for c in EYE_COLOURS}
        if d.style == "eyes-only":
            assert painted[eyes].mean() > 0.3 and not painted[~eyes].any(), d.name  # only the eyes are painted
            assert eye_paint, d.name
        elif d.style == "coat-only":
            assert painted.mean() > 0.3 and not eye_paint, d.name  # the coat over the head, no eye colour
        else:
            assert painted.mean() > 0.5 and eye_paint, d.name  # a coat, a backdrop, the eyes in their colour
