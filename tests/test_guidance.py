import copy

import pytest
import torch

from diss.guidance import guidance_interval, two_condition_guidance
from diss.model import build_unet, model_input, preset
from diss.phi import PHI_VALUE


class Counting(torch.nn.Module):
    """Wraps the U-Net and records the batch size of every forward."""

    def __init__(self, unet):
        super().__init__()
        self.unet, self.batches = unet, []

    @property
    def dtype(self):
        return self.unet.dtype

    def forward(self, x, t):
        self.batches.append(x.shape[0])
        return self.unet(x, t)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    unet = build_unet(preset("tiny"), 16).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 16, 16, generator=g)
    sketch = torch.rand(2, 1, 16, 16, generator=g) * 2 - 1
    stroke = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    return unet, x, sketch, stroke, torch.tensor(500)


def eps(unet, x, sk, st, t):
    with torch.no_grad():
        return unet(model_input(x, sk, st).to(unet.dtype), t.expand(x.shape[0])).sample.float()  # as the guidance


def phi(shape):
    return torch.full(shape, PHI_VALUE)


def test_batched_guidance_equals_three_separate_calls(setup):
    unet, x, sk, st, t = setup
    # float64: in fp32 a batch of 6 and batches of 2 run other convolution kernels, up to ~5e-6 apart on x86 CPUs
    unet = copy.deepcopy(unet).double()
    e00 = eps(unet, x, phi(sk.shape), phi(st.shape), t)
    e10 = eps(unet, x, sk, phi(st.shape), t)
    e01 = eps(unet, x, phi(sk.shape), st, t)
    counting = Counting(unet)
    with torch.no_grad():
        out = two_condition_guidance(counting, sk, st, 2.5, 1.5)(x, t)
    assert counting.batches == [6]  # one forward for the three branches
    assert torch.allclose(out, e00 + 2.5 * (e10 - e00) + 1.5 * (e01 - e00), atol=1e-5)


def test_zero_scales_are_the_unconditional_model_and_skip_branches(setup):
    unet, x, sk, st, t = setup
    counting = Counting(unet)
    with torch.no_grad():
        out = two_condition_guidance(counting, sk, st, 0.0, 0.0)(x, t)
    assert counting.batches == [2]
    assert torch.allclose(out, eps(unet, x, phi(sk.shape), phi(st.shape), t), atol=1e-6)


def test_sketch_only_scale_one_is_the_sketch_branch(setup):
    unet, x, sk, st, t = setup
    counting = Counting(unet)
    with torch.no_grad():
        out = two_condition_guidance(counting, sk, None, 1.0, 3.0)(x, t)
    assert counting.batches == [4]  # absent strokes: that branch is skipped whatever its scale
    assert torch.allclose(out, eps(unet, x, sk, phi(st.shape), t), atol=1e-5)


def test_per_sample_and_spatial_scales(setup):
    unet, x, sk, st, t = setup
    e00 = eps(unet, x, phi(sk.shape), phi(st.shape), t)
    e10 = eps(unet, x, sk, phi(st.shape), t)
    with torch.no_grad():
        per_sample = two_condition_guidance(unet, sk, st, torch.tensor([0.0, 2.0]), 0.0)(x, t)
        left = torch.zeros(2, 1, 16, 16)
        left[..., :8] = 1.0
        spatial = two_condition_guidance(unet, sk, st, left, 0.0)(x, t)
    assert torch.allclose(per_sample[0], e00[0], atol=1e-5)
    assert torch.allclose(per_sample[1], e00[1] + 2.0 * (e10[1] - e00[1]), atol=1e-5)
    assert torch.allclose(spatial[..., :8], e10[..., :8], atol=1e-5)
    assert torch.allclose(spatial[..., 8:], e00[..., 8:], atol=1e-5)


def test_learned_variance_keeps_the_unconditional_variance():
    torch.manual_seed(0)
    unet = build_unet(preset("tiny", learned_variance=True), 16).eval()
    x, sk, st, t = torch.randn(1, 3, 16, 16), torch.zeros(1, 1, 16, 16), torch.zeros(1, 3, 16, 16), torch.tensor(3)
    with torch.no_grad():
        out = two_condition_guidance(unet, sk, st, 2.0, 2.0)(x, t)
    assert out.shape == (1, 6, 16, 16)
    assert torch.allclose(out[:, 3:], eps(unet, x, phi(sk.shape), phi(st.shape), t)[:, 3:], atol=1e-5)


def test_guidance_interval_picks_the_share_of_steps_like_diffusers():
    timesteps = list(range(900, -1, -100))  # DDIM 10, leading
    assert guidance_interval(timesteps, 0.0, 1.0) is None  # every step guided: no predicate at all
    guided = guidance_interval(timesteps, 0.0, 0.5)
    assert [t for t in timesteps if guided(torch.tensor(t))] == [900, 800, 700, 600, 500]
    guided = guidance_interval(timesteps, 0.2, 0.6)
    assert [t for t in timesteps if guided(torch.tensor(t))] == [700, 600, 500, 400]
    assert not any(guidance_interval(timesteps, 0.0, 0.0)(torch.tensor(t)) for t in timesteps)


def test_outside_the_interval_one_forward_of_the_joint_conditional(setup):
    unet, x, sk, st, t = setup
    counting = Counting(unet)
    with torch.no_grad():
        out = two_condition_guidance(counting, sk, st, 2.5, 1.5, guided=lambda t: False)(x, t)
        inside = two_condition_guidance(counting, sk, st, 2.5, 1.5, guided=lambda t: True)(x, t)
    assert counting.batches == [2, 6]  # a third of the work outside, the three branches inside
    assert torch.allclose(out, eps(unet, x, sk, st, t), atol=1e-6)
    assert torch.allclose(inside, two_condition_guidance(unet, sk, st, 2.5, 1.5)(x, t), atol=1e-6)


def test_outside_the_interval_a_zero_scale_means_phi_per_sample(setup):
    unet, x, sk, st, t = setup
    with torch.no_grad():
        both_zero = two_condition_guidance(unet, sk, st, 0.0, 0.0, guided=lambda t: False)(x, t)
        per_sample = two_condition_guidance(unet, sk, st, torch.tensor([0.0, 2.0]), 1.0, guided=lambda t: False)(x, t)
        no_stroke = two_condition_guidance(unet, sk, None, 1.0, 1.0, guided=lambda t: False)(x, t)
    assert torch.allclose(both_zero, eps(unet, x, phi(sk.shape), phi(st.shape), t), atol=1e-6)  # (0, 0): unconditional
    assert torch.allclose(per_sample[0], eps(unet, x, phi(sk.shape), st, t)[0], atol=1e-5)
    assert torch.allclose(per_sample[1], eps(unet, x, sk, st, t)[1], atol=1e-5)
    assert torch.allclose(no_stroke, eps(unet, x, sk, phi(st.shape), t), atol=1e-6)
