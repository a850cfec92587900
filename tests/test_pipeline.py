"""DiSSPipeline on a tiny random model: the properties the maths gives, every sampler with every dial, bad input."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from diss import defaults
from diss.conventions import to_uint8
from diss.errors import DissError
from diss.model import build_unet, preset
from diss.pipeline import DiSSPipeline
from diss.schedulers import make_sampler

SIZE = 32


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    torch.manual_seed(0)
    unet = build_unet(preset("tiny"), SIZE).eval()
    folder = tmp_path_factory.mktemp("model")
    DiSSPipeline(unet=unet, scheduler=make_sampler()).save_pretrained(folder, safe_serialization=True)
    return DiSSPipeline.from_pretrained(folder)


@pytest.fixture
def drawing():
    sketch = np.full((48, 48), 255, np.uint8)
    sketch[10:38, 24] = 0
    stroke = np.full((48, 48, 3), 255, np.uint8)
    stroke[:24] = (200, 40, 40)
    return sketch, stroke


def gens(n, base=0):
    return [torch.Generator().manual_seed(base + i) for i in range(n)]


def run(pipe, *args, **kw):
    """Exact properties are tested in fp32; bf16 autocast ("auto" on CPUs with AMX) is tested for closeness below."""
    kw = {"num_inference_steps": 3, "output_type": "pt", "precision": "fp32", **kw}
    return pipe(*args, **kw).images


def test_zero_scales_equal_the_unconditional_output(pipe, drawing):
    a = run(pipe, *drawing, sketch_guidance_scale=0.0, stroke_guidance_scale=0.0, realism=None, generator=gens(1))
    b = run(pipe, None, None, generator=gens(1))  # no strokes: realism has no reference and does not apply
    assert torch.allclose(a, b, atol=1e-5)


def test_sketch_scale_one_equals_the_sketch_only_output(pipe, drawing):
    kw = dict(sketch_guidance_scale=1.0, realism=None)
    a = run(pipe, drawing[0], drawing[1], stroke_guidance_scale=0.0, generator=gens(1), **kw)
    b = run(pipe, drawing[0], None, generator=gens(1), **kw)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("sampler", defaults.SAMPLERS)
def test_sample_i_of_a_batch_equals_it_alone_and_seeds_repeat(pipe, drawing, sampler):
    kw = dict(sampler=sampler, realism=0.4)
    batch = run(pipe, *drawing, num_images=3, generator=gens(3), **kw)
    alone = run(pipe, *drawing, num_images=1, generator=gens(1, base=2), **kw)
    assert torch.allclose(batch[2:], alone, atol=1e-3)  # fp32: batch size picks the conv kernel (~1e-4 apart on x86)
    double = DiSSPipeline(unet=copy.deepcopy(pipe.unet).double(), scheduler=pipe.scheduler)  # float64: ~1e-15 apart
    batch64 = run(double, *drawing, num_images=3, generator=gens(3), **kw)
    assert torch.allclose(batch64[2:], run(double, *drawing, num_images=1, generator=gens(1, base=2), **kw), atol=1e-5)
    assert torch.equal(batch, run(pipe, *drawing, num_images=3, generator=gens(3), **kw))
    assert not torch.allclose(batch[0], batch[1])


def test_bf16_autocast_stays_close_to_fp32(pipe, drawing):
    full = run(pipe, *drawing, num_images=2, generator=gens(2))
    half = run(pipe, *drawing, num_images=2, generator=gens(2), precision="bf16")
    assert not torch.equal(full, half)  # bf16 did run
    assert (full - half).abs().mean() < 0.03  # ~2.7 grey levels on average (0.019–0.022 over x86 kernel paths)


def test_a_bf16_cast_unet_runs_without_autocast_and_stays_close(pipe, drawing):
    """pipe.to(dtype=bf16): inputs follow the weights' dtype (no autocast); the images stay close to fp32's."""
    full = run(pipe, *drawing, num_images=2, generator=gens(2))
    cast = DiSSPipeline(unet=build_unet(preset("tiny"), SIZE).eval(), scheduler=make_sampler())
    cast.unet.load_state_dict(pipe.unet.state_dict())
    cast.to(dtype=torch.bfloat16)
    half = run(cast, *drawing, num_images=2, generator=gens(2))  # precision "fp32": a bf16 U-Net is used as it is
    assert cast.unet.dtype == torch.bfloat16 and half.dtype == torch.float32
    assert not torch.equal(full, half) and (full - half).abs().mean() < 0.03  # 0.020 on CPUs without AVX2


def test_best_device_is_the_cpu_here_and_a_missing_gpu_is_one_clear_error(pipe, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("DISS_DEVICE", raising=False)
    assert pipe.to_best_device().unet.device.type == "cpu" and pipe.unet.dtype == torch.float32
    monkeypatch.setenv("DISS_DEVICE", "cuda")  # the runtime's refusals reach the caller (tests/test_runtime.py)
    with pytest.raises(DissError, match="no CUDA GPU"):
        pipe.to_best_device()


@pytest.mark.parametrize("sampler", defaults.SAMPLERS)
@pytest.mark.parametrize("mode", ["lowpass", "x0"])
def test_every_sampler_runs_with_every_dial(pipe, drawing, sampler, mode):
    img = np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, :16] = 255
    spatial = np.zeros((SIZE, SIZE), np.uint8)
    spatial[:16] = 255
    out = pipe(
        *drawing,
        sketch_guidance_scale=Image.fromarray(spatial),
        stroke_guidance_scale=2.0,
        realism=0.7,
        realism_mode=mode,
        image=img,
        mask_image=mask,
        sampler=sampler,
        num_inference_steps=3,
        num_images=2,
        generator=gens(2),
        output_type="np",
    ).images
    assert out.shape == (2, SIZE, SIZE, 3) and out.dtype == np.float32
    assert (to_uint8(out)[:, :, 16:] == img[:, 16:]).all()  # outside the mask: the input exactly


def test_all_black_mask_returns_the_input_image(pipe, drawing):
    img = np.random.default_rng(1).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    out = pipe(*drawing, image=img, mask_image=np.zeros((SIZE, SIZE)), num_inference_steps=3, output_type="np").images
    assert (to_uint8(out)[0] == img).all()


def test_realism_needs_strokes_and_leaves_sketch_only_generation_alone(pipe, drawing):
    a = run(pipe, drawing[0], None, realism=0.0, generator=gens(1))
    b = run(pipe, drawing[0], None, realism=None, generator=gens(1))
    assert torch.equal(a, b)  # a sketch has no colours to keep: a white reference would only wash the image out


def test_low_realism_follows_the_reference_more_closely(pipe, drawing):
    from diss.realism import lowpass

    ref = torch.from_numpy(np.array(Image.fromarray(drawing[1]).resize((SIZE, SIZE)))).permute(2, 0, 1)[None]
    ref = ref.float() / 127.5 - 1
    err = {}
    for s in (0.0, 1.0):
        out = run(pipe, None, drawing[1], realism=s, num_images=2, generator=gens(2))
        err[s] = (lowpass(out, 4) - lowpass(ref, 4)).abs().mean().item()
    assert err[0.0] < err[1.0]


def test_pil_output_and_inputs_of_any_kind(pipe, drawing, tmp_path):
    Image.fromarray(255 - drawing[0]).save(tmp_path / "white_on_black.png")
    rgba = np.dstack([drawing[1], np.where(drawing[1][..., 0] == 255, 0, 255).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "stroke.png")
    out = pipe(tmp_path / "white_on_black.png", tmp_path / "stroke.png", num_inference_steps=2)
    assert isinstance(out.images[0], Image.Image) and out.images[0].size == (SIZE, SIZE)
    from diss.data.inputs import prepare_sketch

    assert np.array_equal(prepare_sketch(tmp_path / "white_on_black.png", SIZE), prepare_sketch(drawing[0], SIZE))


@pytest.mark.parametrize(
    "kw,fragment",
    [
        ({"sketch_guidance_scale": float("nan")}, r"in \[0, 100\]"),
        ({"stroke_guidance_scale": -1.0}, r"in \[0, 100\]"),
        ({"stroke_guidance_scale": 1e30}, r"in \[0, 100\]"),
        ({"realism": 1.5}, r"realism must be a number in \[0, 1\]"),
        ({"realism": float("inf")}, "realism must be"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"num_inference_steps": 10**6}, "num_inference_steps"),
        ({"num_inference_steps": 2.5}, "whole number"),
        ({"sampler": "euler"}, "unknown sampler"),
        ({"mask_image": np.zeros((8, 8))}, "needs the image to edit"),
        ({"strength": 0.5}, "needs an image to start from"),
        ({"image": np.zeros((8, 8, 3)), "strength": 0.0}, r"strength must be a number in \(0, 1\]"),
        ({"num_images": 2, "generator": gens(3)}, "one generator per image"),
        ({"num_images": 0}, "num_images"),
        ({"latents": torch.zeros(1, 3, 8, 8)}, "latents must have shape"),
        ({"output_type": "jpeg"}, "output_type must be one of"),
        ({"realism_mode": "ilvr"}, "realism_mode must be one of"),
        ({"callback_on_step_end_tensor_inputs": ["noise"]}, "callback_on_step_end_tensor_inputs"),
    ],
)
def test_bad_arguments_are_one_clear_error_before_any_work(pipe, drawing, kw, fragment, monkeypatch):
    def never(*a, **k):
        raise AssertionError("sampling started before the arguments were checked")

    monkeypatch.setattr("diss.pipeline.sample", never)
    with pytest.raises(DissError, match=fragment):
        pipe(*drawing, **{"num_inference_steps": 2, **kw})


def test_folders_that_are_not_models(tmp_path, pipe):
    with pytest.raises(DissError, match="not a diss model folder"):
        DiSSPipeline.from_pretrained(tmp_path)
    pipe.save_pretrained(tmp_path / "m")
    weights = next((tmp_path / "m" / "unet").glob("*.safetensors"))
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(DissError, match="does not match its SHA-256"):  # save_pretrained wrote the sums
        DiSSPipeline.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "diss.json").unlink()  # a plain diffusers folder: the safetensors parser finds it
    with pytest.raises(DissError, match="damaged or foreign"):
        DiSSPipeline.from_pretrained(tmp_path / "m")
    weights.unlink()
    (tmp_path / "m" / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(DissError, match="pickled weights are never loaded"):
        DiSSPipeline.from_pretrained(tmp_path / "m")


@pytest.mark.slow
def test_compile_traces_the_unet_in_place_and_keeps_the_images(drawing):
    """pipe.compile() swaps in a compiled U-Net that the sampler then uses (here with a recording backend that runs
    the traced graph as it is: none of inductor's minutes on a CPU), and the images stay the same."""
    torch.manual_seed(0)
    compiled = DiSSPipeline(unet=build_unet(preset("tiny"), SIZE).eval(), scheduler=make_sampler())
    before = run(compiled, *drawing, generator=gens(2), num_images=2)
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    assert compiled.compile(backend=backend) is compiled
    after = run(compiled, *drawing, generator=gens(2), num_images=2)
    assert graphs, "the compiled U-Net was never called"
    assert torch.equal(before, after)
    with pytest.raises(DissError, match="compile mode"):
        compiled.compile(mode="fast")


def test_a_model_folder_sets_its_own_default_steps_and_an_explicit_count_wins(pipe, drawing, tmp_path):
    """diss.json's "defaults": {"steps": N} (diss export --steps) is what a call takes unless given
    num_inference_steps; a folder without one takes defaults.STEPS; the value is kept through a save."""
    import json

    def steps_taken(p, **kw):
        taken = []
        p(*drawing, output_type="pt", precision="fp32", callback_on_step_end=lambda _, i, t, d: taken.append(i) or d,
          **kw)  # fmt: skip
        return len(taken)

    assert pipe.default_steps == defaults.STEPS and steps_taken(pipe, num_inference_steps=2) == 2
    own = copy.copy(pipe)
    own.diss_meta = {**pipe.diss_meta, "defaults": {"steps": 3}}
    own.save_pretrained(tmp_path / "m")
    loaded = DiSSPipeline.from_pretrained(tmp_path / "m")
    assert loaded.default_steps == 3 and json.loads((tmp_path / "m" / "diss.json").read_text())["defaults"] == {
        "steps": 3
    }
    assert steps_taken(loaded) == 3 and steps_taken(loaded, num_inference_steps=2) == 2
    none, three = (run(loaded, *drawing, num_inference_steps=n, generator=gens(1)) for n in (None, 3))
    assert torch.equal(none, three)  # None is the folder's own 3
    for bad in (0, 10_001, "20", 2.5, True, None):
        meta = json.loads((tmp_path / "m" / "diss.json").read_text())
        meta["defaults"] = {"steps": bad}
        (tmp_path / "m" / "diss.json").write_text(json.dumps(meta))
        with pytest.raises(DissError, match=r"diss\.json: its default steps must be a whole number, 1 to 10,000"):
            DiSSPipeline.from_pretrained(tmp_path / "m")
    meta["defaults"] = {"steps": 20, "sampler": "ddpm"}  # a key this version does not know
    (tmp_path / "m" / "diss.json").write_text(json.dumps(meta))
    with pytest.raises(DissError, match='"defaults" must be an object such as'):
        DiSSPipeline.from_pretrained(tmp_path / "m")
