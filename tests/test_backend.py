"""The OpenVINO backend against PyTorch (the reference): the same numbers per U-Net call and per image, for every
sampler and dial; the on-disk cache (reused, rebuilt when damaged or stale); each failure falling back in one line."""

import json

import numpy as np
import pytest
import torch

from diss import backend, runtime
from diss.conventions import to_uint8
from diss.errors import DissError
from diss.model import build_unet, preset
from diss.pipeline import DiSSPipeline
from diss.schedulers import make_sampler

pytest.importorskip("openvino")
SIZE = 32


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ov-cache")


@pytest.fixture(scope="module")
def pipe(cache):
    torch.manual_seed(0)
    p = DiSSPipeline(unet=build_unet(preset("tiny"), SIZE).eval(), scheduler=make_sampler())
    return p.set_backend("openvino", precision="fp32", cache_dir=cache)


@pytest.fixture
def drawing():
    sketch = np.full((SIZE, SIZE), 255, np.uint8)
    sketch[6:26, 16] = 0
    stroke = np.full((SIZE, SIZE, 3), 255, np.uint8)
    stroke[:16] = (200, 40, 40)
    return sketch, stroke


def images(pipe, net, drawing, **kw):
    """uint8 images of ``pipe`` with its U-Net calls going to ``net`` (the backend's or the PyTorch module)."""
    saved = pipe._net
    pipe._net = net
    try:
        gens = [torch.Generator().manual_seed(i) for i in range(2)]
        out = pipe(
            *drawing,
            num_images=2,
            generator=gens,
            num_inference_steps=4,
            output_type="np",
            precision="fp32",
            **kw,
        )
        return to_uint8(out.images).astype(np.float64)
    finally:
        pipe._net = saved


def test_openvino_is_the_torch_unet_per_call(pipe):
    """Dynamic batch, scalar or per-sample timesteps: within 1e-4 of PyTorch fp32 in model range (target ≤ 1e-3)."""
    net = pipe._net.with_precision("f32")
    assert pipe.backend == "openvino" and not pipe.backend_fallback
    for b in (1, 3, 5):
        x = torch.randn(b, 7, SIZE, SIZE, generator=torch.Generator().manual_seed(b))
        for t in (torch.tensor(999), torch.arange(b) * 100):
            with torch.no_grad():
                expected = pipe.unet(x, t).sample
            got = net(x, t).sample
            assert got.shape == expected.shape and got.dtype == torch.float32
            assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize(
    "kw",
    [
        {"sampler": "ddim"},
        {"sampler": "dpm++", "realism": 0.5},
        {"sampler": "dpm++sde", "realism_mode": "lowpass"},
        {"sampler": "ddpm", "realism": None},
        {"sampler": "ddim", "mask_image": "half", "realism": 1.0},
        {"sampler": "ddim", "sketch_guidance_scale": "map", "stroke_guidance_scale": 3.0},
    ],
    ids=["ddim", "dpm++-realism", "sde-lowpass", "ddpm-off", "edit", "spatial-map"],
)
def test_images_match_torch_for_every_sampler_and_dial(pipe, drawing, kw):
    """Guidance, realism, editing and spatial maps work unchanged around the backend: ≤ 1 grey level mean."""
    kw = dict(kw)
    if kw.get("mask_image") == "half":
        kw["image"] = np.full((SIZE, SIZE, 3), 90, np.uint8)
        kw["mask_image"] = np.zeros((SIZE, SIZE), np.uint8)
        kw["mask_image"][:, SIZE // 2 :] = 255
    if kw.get("sketch_guidance_scale") == "map":
        kw["sketch_guidance_scale"] = np.tile(np.linspace(0, 255, SIZE, dtype=np.uint8), (SIZE, 1))
    ov = images(pipe, pipe._net, drawing, **kw)
    reference = images(pipe, pipe.unet, drawing, **kw)
    assert np.abs(ov - reference).mean() <= 1.0
    assert not np.array_equal(ov, images(pipe, pipe._net, drawing, **{**kw, "stroke_guidance_scale": 0.0}))


def test_the_cache_is_reused_and_rebuilt_when_damaged_or_stale(pipe, cache, monkeypatch, capfd):
    monkeypatch.setattr("sys.argv", ["diss", "generate", "--verbose"])  # OpenVINO's converter reads the command line
    calls = []
    convert = backend.convert
    monkeypatch.setattr(backend, "convert", lambda *a: (calls.append(1), convert(*a))[1])
    folder = cache / "openvino" / backend.cache_key(pipe.unet)
    pipe.set_backend("openvino", precision="fp32", cache_dir=cache)
    assert calls == [] and "cached" in pipe.backend_note
    blob = folder / "unet.bin"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    blob.write_bytes(bytes(data))
    assert not backend.cache_is_valid(folder)
    pipe.set_backend("openvino", precision="fp32", cache_dir=cache)
    assert calls == [1] and "rebuilt" in pipe.backend_note and backend.cache_is_valid(folder)
    assert "Model Conversion" not in capfd.readouterr().out  # a conversion prints nothing, whatever the flags
    manifest = (folder / "manifest.json").read_text()
    for stale in ({"openvino": "2019.1"}, {"format": backend.CACHE_FORMAT + 1}, {"sha256": {}}):
        (folder / "manifest.json").write_text(json.dumps({**json.loads(manifest), **stale}))  # another version's
        assert not backend.cache_is_valid(folder)
    (folder / "manifest.json").write_text("{not json")
    assert not backend.cache_is_valid(folder)
    (folder / "manifest.json").unlink()
    assert not backend.cache_is_valid(folder)
    (folder / "manifest.json").write_text(manifest)
    assert backend.cache_is_valid(folder)


def test_the_cache_key_follows_the_weights_in_memory():
    torch.manual_seed(0)
    unet = build_unet(preset("tiny"), SIZE)
    key = backend.cache_key(unet)
    assert backend.cache_key(unet.to(memory_format=torch.channels_last)) == key  # layout is not content
    with torch.no_grad():
        next(unet.parameters())[0, 0, 0, 0] += 1e-3
    assert backend.cache_key(unet) != key


def test_openvino_missing(pipe, cache, monkeypatch):
    monkeypatch.setattr(runtime, "openvino_module", lambda: None)
    with pytest.raises(DissError, match="pip install openvino"):
        pipe.set_backend("openvino", cache_dir=cache)
    monkeypatch.delenv("DISS_BACKEND", raising=False)
    pipe.set_backend("auto", cache_dir=cache)
    assert pipe.backend == "torch" and not pipe.backend_fallback and "pip install openvino" in pipe.backend_note


def test_a_failed_conversion_is_one_line_and_torch_takes_over(pipe, tmp_path, monkeypatch, caplog, drawing):
    def broken(*_):
        raise RuntimeError("unsupported operation\nwith a long second line")

    monkeypatch.setattr(backend, "convert", broken)
    pipe.set_backend("openvino", cache_dir=tmp_path)
    note = pipe.backend_note
    assert pipe.backend == "torch" and pipe.backend_fallback and pipe.net is pipe.unet
    assert "\n" not in note and "openvino failed to convert" in note and "unsupported operation" in note
    from diss.loading import announce_backend

    caplog.clear()
    announce_backend(pipe)  # what every command does after loading: the note, once, a warning (the CLI: stderr)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", note)]
    assert images(pipe, pipe.unet, drawing).shape == (2, SIZE, SIZE, 3)


def test_a_step_failing_inside_openvino_hands_over_to_torch(cache, caplog, drawing):
    """The images are PyTorch's exactly (fp32): the failed call is redone on the PyTorch module."""
    torch.manual_seed(0)
    p = DiSSPipeline(unet=build_unet(preset("tiny"), SIZE).eval(), scheduler=make_sampler())
    p.set_backend("openvino", precision="fp32", cache_dir=cache)
    reference = images(p, p.unet, drawing)

    class Broken:
        def infer(self, _):
            raise RuntimeError("device lost")

    net = p.net.with_precision("f32")
    net._local.request = Broken()
    got = images(p, net, drawing)
    assert np.array_equal(got, reference)
    assert p.backend == "torch" and p.backend_fallback and "device lost" in p.backend_note
    assert sum("openvino failed during sampling" in r.getMessage() for r in caplog.records) == 1  # said once


def test_precision_follows_the_pipelines_policy():
    assert backend.precision_hint("fp32") == "f32" and backend.precision_hint("bf16") == "bf16"
    from diss.runtime import cpu_supports_bf16

    assert backend.precision_hint("auto") == ("bf16" if cpu_supports_bf16() else "f32")


@pytest.mark.slow
def test_the_shipped_model_on_openvino_is_torch_fp32_within_the_targets(tmp_path):
    """The targets on the real model: ≤ 1e-3 per U-Net call (model range), ≤ 1 grey level mean per image."""
    from diss.folder import SHIPPED_MODEL, load_example

    p = DiSSPipeline.from_pretrained(SHIPPED_MODEL).set_backend("openvino", precision="fp32", cache_dir=tmp_path)
    assert p.backend == "openvino", p.backend_note
    x = torch.randn(3, 7, p.size, p.size, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([999, 500, 20])
    with torch.no_grad():
        assert (p.net(x, t).sample - p.unet(x, t).sample).abs().max() <= 1e-3
    ov = images(p, p.net, load_example("daisy"))
    reference = images(p, p.unet, load_example("daisy"))
    assert np.abs(ov - reference).mean(axis=(1, 2, 3)).max() <= 1.0
