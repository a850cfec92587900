import pytest
import torch

from diss.diffusion import make_scheduler, q_sample, training_loss, vlb_terms
from diss.errors import DissError


def batch(t):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(len(t), 3, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(x0.shape, generator=g)
    return x0, noise, torch.tensor(t)


def test_q_sample_matches_the_closed_form():
    s = make_scheduler("linear")
    x0, noise, t = batch([0, 10, 999])
    ac = s.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    assert torch.allclose(q_sample(s, x0, noise, t), ac.sqrt() * x0 + (1 - ac).sqrt() * noise, atol=1e-6)


def test_l_simple_is_zero_for_the_true_noise_and_grows_with_error():
    s = make_scheduler("cosine")
    x0, noise, t = batch([5, 500])
    x_t = q_sample(s, x0, noise, t)
    zero, _ = training_loss(s, noise, x0, x_t, t, noise)
    assert zero.item() == 0.0
    off, parts = training_loss(s, noise + 0.5, x0, x_t, t, noise)
    assert off.item() == pytest.approx(0.25, rel=1e-5) and "l_vlb" not in parts


def test_vlb_kl_vanishes_when_the_model_matches_the_posterior():
    s = make_scheduler("linear", learned_variance=True)
    x0, noise, t = batch([3, 200, 900])
    x_t = q_sample(s, x0, noise, t)
    v = -torch.ones_like(x0)  # frac 0: the model's log variance is the posterior's, log β̃_t
    kl = vlb_terms(s, noise, v, x0, x_t, t)
    assert kl.abs().max() < 1e-4
    wrong = vlb_terms(s, noise + 0.3, v, x0, x_t, t)
    assert (wrong > 5e-4).all()  # any error in ε shows in the bound


def test_hybrid_loss_adds_the_weighted_vlb():
    s = make_scheduler("linear", learned_variance=True)
    x0, noise, t = batch([0, 400])
    x_t = q_sample(s, x0, noise, t)
    out = torch.cat([noise + 0.1, torch.zeros_like(noise)], 1)
    loss, parts = training_loss(s, out, x0, x_t, t, noise, vlb_weight=0.001)
    assert loss.item() == pytest.approx(parts["l_simple"].item() + parts["l_vlb"].item(), rel=1e-4)


def test_unknown_schedule():
    with pytest.raises(DissError, match="unknown noise schedule"):
        make_scheduler("quadratic")
