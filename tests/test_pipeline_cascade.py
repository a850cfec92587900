"""A cascade folder (base + upsampler) on tiny random models: sizes, per-sample noise, edits exact outside the mask."""

import copy
import json
from unittest.mock import patch

import numpy as np
import pytest
import torch

from diss.conventions import to_uint8
from diss.errors import DissError
from diss.model import build_unet, preset
from diss.phi import PHI_VALUE
from diss.pipeline import DiSSPipeline
from diss.schedulers import make_sampler
from diss.upsampler import build_upsampler, make_upsampler_scheduler, upsampler_preset

SIZE = 16  # the base's; the cascade gives 4× that


def saved_cascade(folder):
    """A tiny random cascade (base of side SIZE, upsampler 4×) saved into ``folder``."""
    torch.manual_seed(0)
    DiSSPipeline(unet=build_unet(preset("tiny"), SIZE).eval(), scheduler=make_sampler(),
                 upsampler=build_upsampler(upsampler_preset("tiny")).eval(),
                 upsampler_scheduler=make_upsampler_scheduler()).save_pretrained(folder)  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipe = DiSSPipeline.from_pretrained(saved_cascade(tmp_path_factory.mktemp("cascade")))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def drawing():
    sketch = np.full((80, 80), 255, np.uint8)
    sketch[10:70, 40] = 0
    stroke = np.full((80, 80, 3), 255, np.uint8)
    stroke[:40] = (200, 40, 40)
    return sketch, stroke


def gens(n, base=0):
    return [torch.Generator().manual_seed(base + i) for i in range(n)]


def run(pipe, *args, **kw):
    kw = {"num_inference_steps": 2, "upsampler_steps": 2, "output_type": "pt", "precision": "fp32", **kw}
    return pipe(*args, **kw).images


def test_the_cascade_gives_its_size_by_default_and_the_base_alone_on_request(pipe, drawing):
    assert pipe.output_sizes == (16, 64)
    big = run(pipe, *drawing, generator=gens(1))
    small = run(pipe, *drawing, generator=gens(1), output_size=16)
    assert big.shape == (1, 3, 64, 64) and small.shape == (1, 3, 16, 16)
    assert torch.equal(small, run(pipe, *drawing, generator=gens(1), output_size=16))  # the base alone, unchanged


def test_sample_i_of_a_batch_equals_it_alone_at_the_cascades_size(pipe, drawing):
    double = DiSSPipeline(unet=copy.deepcopy(pipe.unet).double(), scheduler=pipe.scheduler,
                          upsampler=copy.deepcopy(pipe.upsampler).double(),
                          upsampler_scheduler=pipe.upsampler_scheduler)  # fmt: skip
    double.set_progress_bar_config(disable=True)
    batch = run(double, *drawing, num_images=3, generator=gens(3))
    alone = run(double, *drawing, num_images=1, generator=gens(1, base=2))
    assert torch.allclose(batch[2:], alone, atol=1e-5)  # float64: the per-sample noise of both stages
    assert not torch.allclose(batch[0], batch[1])


def test_an_edit_keeps_every_pixel_outside_the_mask_at_the_cascades_size(pipe, drawing):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    out = to_uint8(run(pipe, *drawing, image=photo, mask_image=mask, generator=gens(1), output_type="np"))[0]
    assert out.shape == (64, 64, 3)
    assert np.array_equal(out[mask == 0], photo[mask == 0])  # exact, at 64 (the base edited at 16)
    assert not np.array_equal(out[mask > 0], photo[mask > 0])


def test_a_folder_without_upsampler_refuses_a_larger_size(drawing):
    torch.manual_seed(0)
    base = DiSSPipeline(unet=build_unet(preset("tiny"), SIZE).eval(), scheduler=make_sampler())
    with pytest.raises(DissError, match="holds no upsampler"):
        base(*drawing, output_size=64)


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"formulation": "x"}, "formulation"),  # e.g. an upsampler of an older diss that diffused x itself
        ({"factor": 3}, "factor 3"),
        ({"factor": 2.0}, "factor 2.0"),  # a whole number, not one that compares equal
        ({"factor": "4"}, "factor '4'"),
    ],
)
def test_an_upsampler_of_another_kind_is_refused_at_load(tmp_path, change, fragment):
    folder = saved_cascade(tmp_path / "cascade")
    meta = json.loads((folder / "diss.json").read_text())
    assert meta["upsampler"]["trained_at"] == 4 * SIZE and meta["size"] == SIZE  # what the save said
    meta["upsampler"].update(change)
    (folder / "diss.json").write_text(json.dumps(meta))
    with pytest.raises(DissError, match=fragment):
        DiSSPipeline.from_pretrained(folder)


def test_a_saved_folder_does_not_carry_the_path_it_was_loaded_from(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "again")  # ``pipe`` was loaded from a folder: diffusers recorded its path
    configs = [tmp_path / "again" / "model_index.json", *(tmp_path / "again").glob("*/config.json")]
    assert len(configs) == 3 and not any("_name_or_path" in json.loads(p.read_text()) for p in configs)
    assert DiSSPipeline.from_pretrained(tmp_path / "again").output_sizes == (SIZE, 4 * SIZE)


def test_a_cascade_without_a_sketch_gives_its_size_with_phi_lines(pipe, drawing):
    """Strokes alone: the base samples with Φ for the sketch, and so does the upsampler, at its own size."""
    from diss.upsampler import upsample

    seen = {}

    def spy(unet, scheduler, x0, sketch, *args):
        seen["sketch"] = sketch
        return upsample(unet, scheduler, x0, sketch, *args)

    with patch("diss.pipeline.upsample", spy):
        out = run(pipe, None, drawing[1], generator=gens(2), num_images=2)
    assert out.shape == (2, 3, 64, 64) and torch.isfinite(out).all()
    assert seen["sketch"].shape == (2, 1, 64, 64) and (seen["sketch"] == PHI_VALUE).all()


def test_upsample_guided_by_the_sketch_keeps_w_1_and_refuses_a_bad_w(pipe, drawing):
    low = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    plain = pipe.upsample(low, drawing[0], generator=gens(1))
    assert torch.equal(plain, pipe.upsample(low, drawing[0], sketch_guidance_scale=1.0, generator=gens(1)))
    assert not torch.equal(plain, pipe.upsample(low, drawing[0], sketch_guidance_scale=3.0, generator=gens(1)))
    for bad in (-1.0, float("nan"), "2", True):
        with pytest.raises(DissError, match="sketch_guidance_scale must be a number"):
            pipe.upsample(low, drawing[0], sketch_guidance_scale=bad)


def test_the_cascades_factor_is_the_folders_own(tmp_path, drawing):
    """A folder whose upsampler is 2× (diss.json "factor": 2, as diss export writes it from a --factor 2 run) gives
    twice the base's side, saves that factor again, and refuses a side it does not give in one line."""
    folder = saved_cascade(tmp_path / "cascade2")
    meta = json.loads((folder / "diss.json").read_text())
    meta["upsampler"]["factor"] = 2
    (folder / "diss.json").write_text(json.dumps(meta))
    pipe = DiSSPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.upsampler_factor == 2 and pipe.output_sizes == (SIZE, 2 * SIZE)
    assert run(pipe, *drawing, generator=gens(1)).shape == (1, 3, 2 * SIZE, 2 * SIZE)
    with pytest.raises(DissError, match=f"output_size must be {SIZE} or {2 * SIZE}, not {4 * SIZE}"):
        run(pipe, *drawing, generator=gens(1), output_size=4 * SIZE)
    pipe.save_pretrained(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "diss.json").read_text())["upsampler"]
    assert again["factor"] == 2  # (and "trained_at", the photos' side, kept as the record said)
