"""DiSSPipeline behaves as a diffusers pipeline: the scheduler that steps, the callback contract, output types, saving
and loading through diffusers, dtype, progress bar, SDEdit."""

import json

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler
from PIL import Image

from diss.conventions import to_uint8
from diss.diffusion import make_scheduler
from diss.folder import CUSTOM_PIPELINE_FILE, read_json, sha256_file
from diss.model import build_unet, preset
from diss.pipeline import DiSSPipeline
from diss.runtime import randn
from diss.schedulers import make_sampler, sampler_name

SIZE = 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model")
    DiSSPipeline(unet=build_unet(preset("tiny"), SIZE).eval(), scheduler=make_sampler()).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipe(folder):
    p = DiSSPipeline.from_pretrained(folder)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture
def drawing():
    sketch = np.full((SIZE, SIZE), 255, np.uint8)
    sketch[8:24, 16] = 0
    stroke = np.full((SIZE, SIZE, 3), 255, np.uint8)
    stroke[:16] = (200, 40, 40)
    return sketch, stroke


def run(pipe, *args, **kw):
    kw = {"num_inference_steps": 4, "output_type": "pt", "precision": "fp32", **kw}
    return pipe(*args, generator=torch.Generator().manual_seed(kw.pop("seed", 0)), **kw).images


def test_the_pipelines_scheduler_is_the_one_that_steps(pipe, drawing):
    assert sampler_name(pipe.scheduler) == "ddim"
    ddim = run(pipe, *drawing)
    swapped = DiSSPipeline(unet=pipe.unet, scheduler=DPMSolverMultistepScheduler.from_config(pipe.scheduler.config))
    dpm = run(swapped, *drawing)
    assert not torch.allclose(ddim, dpm)
    assert torch.equal(dpm, run(pipe, *drawing, sampler="dpm++"))  # sampler= is the shorthand for that swap
    assert sampler_name(pipe.scheduler) == "ddim"  # ... for one call: the pipeline's own scheduler stays


def test_callback_gets_each_steps_timestep_can_replace_the_latents_and_interrupt(pipe, drawing):
    seen = []

    def record(p, i, t, kwargs):
        seen.append((i, int(t), tuple(kwargs)))
        return {}

    run(pipe, *drawing, callback_on_step_end=record)
    scheduler = make_sampler("ddim", pipe.scheduler.config)
    scheduler.set_timesteps(4)
    assert seen == [(i, int(t), ("latents",)) for i, t in enumerate(scheduler.timesteps)]  # t of the step taken

    def grey(p, i, t, kwargs):
        return {"latents": torch.zeros_like(kwargs["latents"])} if i == 3 else kwargs

    grey_image = run(pipe, *drawing, realism=None, callback_on_step_end=grey)
    assert torch.equal(grey_image, torch.full((1, 3, SIZE, SIZE), 0.5))

    calls = []

    def stop_after_two(p, i, t, kwargs):
        calls.append(i)
        p._interrupt = i == 1
        return kwargs

    stopped = run(pipe, *drawing, callback_on_step_end=stop_after_two)
    assert calls == [0, 1] and pipe.interrupt and not torch.allclose(stopped, run(pipe, *drawing))
    run(pipe, *drawing)
    assert not pipe.interrupt  # each call starts afresh


def test_output_types_as_diffusers(pipe, drawing):
    pt = run(pipe, *drawing)
    assert pt.shape == (1, 3, SIZE, SIZE) and pt.dtype == torch.float32 and 0 <= pt.min() and pt.max() <= 1
    np_images = run(pipe, *drawing, output_type="np")
    assert np_images.shape == (1, SIZE, SIZE, 3) and np.allclose(np_images, pt.permute(0, 2, 3, 1).numpy())
    latent = run(pipe, *drawing, output_type="latent")
    assert torch.allclose(latent, pt * 2 - 1, atol=1e-6) and latent.min() < 0
    pil = run(pipe, *drawing, output_type="pil")
    assert isinstance(pil[0], Image.Image) and np.array_equal(to_uint8(pil), to_uint8(np_images))
    (images,) = pipe(*drawing, num_inference_steps=2, return_dict=False)
    assert isinstance(images[0], Image.Image)


def test_latents_are_the_starting_noise(pipe, drawing):
    noise = randn((2, 3, SIZE, SIZE), [torch.Generator().manual_seed(s) for s in (3, 4)])
    a = pipe(*drawing, num_images=2, latents=noise, num_inference_steps=3, output_type="pt").images
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    b = pipe(*drawing, num_images=2, generator=gens, num_inference_steps=3, output_type="pt").images
    assert torch.equal(a, b)


def test_save_pretrained_writes_the_sums_and_the_file_diffusers_loads_us_through(pipe, drawing, tmp_path):
    pipe.save_pretrained(tmp_path / "m")
    meta = read_json(tmp_path / "m" / "diss.json")
    weights = "unet/diffusion_pytorch_model.safetensors"
    assert meta["version"] == 2 and meta["sha256"] == {weights: sha256_file(tmp_path / "m" / weights)}
    assert json.loads((tmp_path / "m" / "model_index.json").read_text())["_class_name"] == "DiSSPipeline"
    loader = tmp_path / "m" / CUSTOM_PIPELINE_FILE
    same = DiffusionPipeline.from_pretrained(tmp_path / "m", custom_pipeline=str(loader), trust_remote_code=True)
    assert type(same) is DiSSPipeline
    same.unet.to(memory_format=torch.channels_last)  # as DiSSPipeline.from_pretrained lays it out (the kernels differ)
    assert torch.equal(run(same, *drawing), run(pipe, *drawing))


def test_torch_dtype_is_the_unets_dtype(folder):
    assert DiSSPipeline.from_pretrained(folder).unet.dtype == torch.float32  # fp16 files are computed in fp32
    assert DiSSPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16).unet.dtype == torch.bfloat16


def test_a_version_1_folder_steps_with_the_default_sampler_a_version_2_one_with_its_own(pipe, tmp_path):
    v2 = DiSSPipeline(unet=pipe.unet, scheduler=make_scheduler())  # a DDPM scheduler, saved as such
    v2.save_pretrained(tmp_path / "v2")
    assert isinstance(DiSSPipeline.from_pretrained(tmp_path / "v2").scheduler, DDPMScheduler)
    meta = read_json(tmp_path / "v2" / "diss.json")
    (tmp_path / "v2" / "diss.json").write_text(json.dumps({**meta, "version": 1}))  # the training scheduler's era
    assert sampler_name(DiSSPipeline.from_pretrained(tmp_path / "v2").scheduler) == "ddim"


def test_the_progress_bar_follows_set_progress_bar_config(folder, drawing, capfd):
    p = DiSSPipeline.from_pretrained(folder)
    capfd.readouterr()
    p(*drawing, num_inference_steps=3)
    assert "3/3" in capfd.readouterr().err
    p.set_progress_bar_config(disable=True)
    p(*drawing, num_inference_steps=3)
    assert capfd.readouterr().err == ""


def test_sdedit_starts_from_the_image_at_strength(pipe, drawing):
    photo = np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    steps = []
    out = run(pipe, *drawing, image=photo, strength=0.5, num_inference_steps=8,
              callback_on_step_end=lambda p, i, t, k: steps.append(i) or k)  # fmt: skip
    assert len(steps) == 4  # the last half of the schedule only
    assert torch.equal(run(pipe, *drawing, image=photo, strength=1.0), run(pipe, *drawing))  # all noise: no image
    far = run(pipe, *drawing, image=photo, strength=1.0, num_inference_steps=8)
    target = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    assert (out - target).abs().mean() < (far - target).abs().mean()  # less noise: closer to the photo
