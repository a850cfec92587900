"""The shipped domains (diss.domains): each one's model folder and example drawings exist, the demo's choices name
its own examples, and the landscape examples are what their seeded script draws."""

import importlib.util

import numpy as np
import pytest

from diss.conventions import LINE_MAX, stroke_mask
from diss.demo.run import background_edit
from diss.domains import CAT_EYES, DEFAULT_DOMAIN, DOMAINS, EYE_RADIUS, domain_of
from diss.errors import DissError
from diss.folder import EXAMPLES, SHIPPED_MODELS, load_example, resolve_model
from diss.options import MODEL_HELP


@pytest.mark.parametrize("name", list(DOMAINS))
def test_each_domain_has_a_model_folder_and_drawings(name):
    domain = DOMAINS[name]
    assert (resolve_model(name) / "model_index.json").is_file() and SHIPPED_MODELS[name] == domain.folder
    assert domain.sweep in domain.examples and domain.scales in domain.examples
    assert domain.edit in ("background", "sky", "eyes") and (domain.edit == "eyes") == bool(domain.spots)
    for example in domain.examples:
        sketch, stroke = load_example(example)
        assert (sketch < LINE_MAX).mean() < 0.25  # sparse dark lines on white
        assert stroke_mask(stroke).mean() > 0.02  # some paint (a cat's eyes alone: 3% of the canvas)
        assert (~stroke_mask(stroke)).mean() > 0.0  # and somewhere left free
    assert name in MODEL_HELP


def test_a_folder_names_its_domain_in_diss_json_and_the_default_covers_the_rest():
    assert domain_of({"domain": "landscapes"}) is DOMAINS["landscapes"]
    assert domain_of({"domain": "cats"}) is DOMAINS["cats"]
    assert domain_of({}) is domain_of({"domain": "dogs"}) is DOMAINS[DEFAULT_DOMAIN]


@pytest.mark.parametrize("domain, script", [("landscapes", "make_landscapes"), ("cats", "make_cats")])
def test_the_examples_are_what_their_script_draws(tmp_path, domain, script):
    spec = importlib.util.spec_from_file_location(script, EXAMPLES / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in DOMAINS[domain].examples:
        for part in ("sketch", "stroke"):
            made = load_example(name, tmp_path)[part == "stroke"]
            assert np.array_equal(made, load_example(name)[part == "stroke"]), (name, part)


def test_the_sky_edit_repaints_above_the_topmost_line_only_and_warms_it():
    sketch, stroke = load_example("mountain")
    mask, new_stroke = background_edit(stroke, 64, "sky", sketch)
    lines = sketch.min(axis=2) < LINE_MAX if sketch.ndim == 3 else sketch < LINE_MAX
    top = lines.argmax(axis=0)  # every column of this drawing has a line
    below = np.arange(stroke.shape[0])[:, None] >= top[None, :]
    assert np.array_equal(new_stroke[below], stroke[below])  # the mountains and the forest: untouched
    assert mask[0].min() == 255 and mask[-1].max() == 0
    above = ~below & (stroke.min(axis=2) < 250)
    warm_old = (stroke[above][:, 0].astype(int) - stroke[above][:, 2]).mean()
    warm_new = (new_stroke[above][:, 0].astype(int) - new_stroke[above][:, 2]).mean()
    assert warm_new > 40 > warm_old  # blue → orange
    with pytest.raises(DissError, match="needs the sketch"):
        background_edit(stroke, 64, "sky")


def test_the_eyes_edit_repaints_the_cat_drawings_eyes_only():
    """A cat's local edit: discs around the eyes where examples/make_cats.py draws them, their colour turned; the rest
    of the drawing untouched, and the mask white on the eyes only."""
    sketch, stroke = load_example("tabby")
    mask, new_stroke = background_edit(stroke, 64, "eyes", sketch, CAT_EYES)
    h, w = stroke.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = np.logical_or.reduce([(yy - y * h) ** 2 + (xx - x * w) ** 2 <= (EYE_RADIUS * w) ** 2 for x, y in CAT_EYES])
    assert np.array_equal(new_stroke[~inside], stroke[~inside])  # the coat and the backdrop: untouched
    iris = inside & (stroke.max(axis=2).astype(int) - stroke.min(axis=2) > 60)  # the eyes' colour, not the pupils
    eye = iris
    assert eye.sum() > 20 and (np.abs(new_stroke[eye].astype(int) - stroke[eye]).sum(axis=1) > 30).mean() > 0.9
    assert mask.shape == (64, 64) and 0.02 < (mask > 0).mean() < 0.1  # two small discs
    with pytest.raises(DissError, match="where the eyes are"):
        background_edit(stroke, 64, "eyes", sketch)
