import pytest
import torch
from diffusers import DDIMScheduler

from diss.diffusion import make_scheduler
from diss.errors import DissError
from diss.guidance import two_condition_guidance
from diss.model import build_unet, preset
from diss.realism import combined_reference, lowpass, lowpass_hook, lowpass_side
from diss.sampling import sample


def test_lowpass_side_follows_eq_9():
    assert lowpass_side(0.0, 64) == 8 and lowpass_side(1.0, 64) == 1
    assert lowpass_side(0.0, 256) == 32 and lowpass_side(1.0, 256) == 1
    assert lowpass_side(0.0, 64, k=4) == 12 and lowpass_side(1.0, 64, k=4) == 5
    sides = [lowpass_side(s / 10, 128) for s in range(11)]
    assert sides == sorted(sides, reverse=True)  # more realism, coarser low-pass
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(DissError, match="realism must lie in"):
            lowpass_side(bad, 64)


def test_lowpass_keeps_constants_and_removes_detail():
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(lowpass(flat, 4), flat, atol=1e-5)
    checker = (torch.arange(32)[:, None] + torch.arange(32)[None]) % 2 * 2.0 - 1.0
    assert lowpass(checker.expand(1, 3, 32, 32), 4).abs().max() < 0.05


def test_combined_reference_draws_the_sketch_over_the_strokes():
    stroke = torch.full((1, 3, 4, 4), 0.5)
    sketch = torch.ones(1, 1, 4, 4)
    sketch[..., 0, 0] = -1.0
    c = combined_reference(sketch, stroke)
    assert c[0, :, 0, 0].eq(-1).all() and c[0, :, 1, 1].eq(0.5).all()
    with pytest.raises(DissError):
        combined_reference(None, None)


def test_final_hook_replaces_low_frequencies_with_the_reference():
    ref = torch.rand(2, 3, 32, 32) * 2 - 1
    x = torch.randn(2, 3, 32, 32)
    out = lowpass_hook(ref, make_scheduler(), 4)(x, torch.tensor(-1), 0)
    assert (lowpass(out, 4) - lowpass(ref, 4)).abs().mean() < 0.35 * (lowpass(x, 4) - lowpass(ref, 4)).abs().mean()
    # the details are the sample's (bicubic LP_N is close to, not exactly, a projection)
    assert torch.allclose(out - lowpass(out, 4), x - lowpass(x, 4), atol=0.2)


def run(realism, generators, ref, unet, steps=4):
    scheduler = DDIMScheduler.from_config(make_scheduler().config)
    noise = torch.cat([torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(g)) for g in generators])
    gens = [torch.Generator().manual_seed(100 + g) for g in generators]
    hook = lowpass_hook(ref, scheduler, lowpass_side(realism, 32), gens)
    denoiser = two_condition_guidance(unet, None, ref, 0.0, 1.0)
    with torch.no_grad():
        return sample(denoiser, scheduler, noise, steps, generator=gens, hooks=[hook])


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return build_unet(preset("tiny"), 32).eval()


def test_low_realism_follows_the_reference_more_closely(unet):
    ref = torch.rand(2, 3, 32, 32) * 2 - 1
    err = {s: (lowpass(run(s, [0, 1], ref, unet), 4) - lowpass(ref, 4)).abs().mean().item() for s in (0.0, 1.0)}
    assert err[0.0] < err[1.0]


def test_sample_i_of_a_batch_equals_the_sample_alone(unet):
    ref = torch.rand(2, 3, 32, 32) * 2 - 1
    both = run(0.3, [0, 1], ref, unet)
    alone = run(0.3, [1], ref[1:], unet)
    assert torch.allclose(both[1:], alone, atol=1e-5)


@pytest.mark.parametrize("m, n", [(32, 1), (32, 5), (64, 1), (64, 8), (64, 63), (48, 3)])
def test_lowpass_is_the_two_bicubic_resizes_as_cached_matrices(m, n):
    """L·x·Lᵀ equals ILVR's resizer (antialiased bicubic shrink, bicubic enlarge), also under bf16 autocast."""
    x = torch.randn(2, 3, m, m, generator=torch.Generator().manual_seed(m + n))
    small = torch.nn.functional.interpolate(x, size=(n, n), mode="bicubic", antialias=True, align_corners=False)
    expected = torch.nn.functional.interpolate(small, size=(m, m), mode="bicubic", align_corners=False)
    assert torch.allclose(lowpass(x, n), expected, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = lowpass(x, n)
    assert out.dtype == torch.float32 and torch.allclose(out, expected, atol=1e-4)
