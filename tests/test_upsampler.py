from unittest.mock import patch

import torch

from diss.upsampler import (
    FACTOR,
    PRESETS,
    build_upsampler,
    degrade,
    enlarge,
    gaussian_blur,
    make_upsampler_sampler,
    make_upsampler_scheduler,
    random_crops,
    shrink,
    upsample,
    upsample_denoiser,
    upsampler_loss,
    upsampler_preset,
)


def test_shrink_then_enlarge_keeps_a_smooth_image():
    y, x = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    image = torch.stack([0.8 * x, 0.8 * y, 0.4 * x * y]).unsqueeze(0)  # (1, 3, 64, 64), smooth
    low = shrink(image)
    assert low.shape == (1, 3, 64 // FACTOR, 64 // FACTOR)
    assert (enlarge(low, 64) - image)[..., 8:-8, 8:-8].abs().max() < 0.05  # away from the borders


def test_random_crops_take_the_same_window_of_every_tensor():
    a = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    ca, cb = random_crops([a, a * 2], 8, torch.Generator().manual_seed(0))
    assert ca.shape == (2, 1, 8, 8) and torch.equal(cb, ca * 2)
    for i in range(2):  # a contiguous window of the sample it came from
        y, x = divmod(int(ca[i, 0, 0, 0] - i * 256), 16)
        assert torch.equal(ca[i, 0], a[i, 0, y : y + 8, x : x + 8])


def test_the_upsampler_trains_on_crops_and_runs_on_whole_images():
    torch.manual_seed(0)
    unet = build_upsampler(upsampler_preset("tiny"))
    scheduler = make_upsampler_scheduler()
    g = torch.Generator().manual_seed(0)
    image, sketch = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 1, 32, 32, generator=g) * 2 - 1
    loss = upsampler_loss(unet, scheduler, image, sketch, g, crop=16)
    loss.backward()
    assert loss.isfinite() and unet.conv_in.weight.grad is not None
    low, level = enlarge(shrink(image), 32), torch.tensor([50, 50])
    denoiser = upsample_denoiser(unet.eval(), scheduler, low, sketch, level)
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([999, 999])
    with torch.no_grad():
        eps = denoiser(x, t)  # whole 32 px images: 2× the crop side
        v = unet(torch.cat([x, low, sketch], dim=1), t, class_labels=level).sample
    assert eps.shape == (2, 3, 32, 32)
    a = scheduler.alphas_cumprod[999]  # the same x̂₀ from ε as from v
    assert torch.allclose((x - (1 - a).sqrt() * eps) / a.sqrt(), a.sqrt() * x - (1 - a).sqrt() * v, atol=1e-3)


def test_every_preset_is_fully_convolutional():
    from diffusers.models.attention_processor import Attention

    for name in PRESETS:  # no attention: a model trained on crops runs on whole images of any side
        unet = build_upsampler(upsampler_preset(name)).eval()
        assert not any(isinstance(m, Attention) for m in unet.modules()), name
        with torch.no_grad():
            out = unet(torch.zeros(1, 7, 16, 24), torch.tensor([999]), class_labels=torch.tensor([0])).sample
        assert out.shape == (1, 3, 16, 24), name


def test_few_step_sampler_starts_from_pure_noise():
    sampler = make_upsampler_sampler(make_upsampler_scheduler().config)
    sampler.set_timesteps(4)
    assert sampler.timesteps.tolist()[0] == 999 and sampler.config.prediction_type == "epsilon"  # the denoiser's ε


def test_level_zero_leaves_the_low_resolution_input_untouched():
    low = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert torch.equal(degrade(low, torch.zeros(2, dtype=torch.long), torch.randn(2, 3, 16, 16)), low)


def test_blur_keeps_a_flat_image_and_blurs_each_sample_alone():
    g = torch.Generator().manual_seed(2)
    flat = torch.full((1, 3, 12, 12), 0.3)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([1.5])), flat, atol=1e-6)
    image, sigma = torch.rand(3, 3, 12, 12, generator=g), torch.tensor([0.0, 0.7, 2.0])
    together = gaussian_blur(image, sigma)
    for i in range(3):
        assert torch.allclose(together[i], gaussian_blur(image[i : i + 1], sigma[i : i + 1])[0], atol=1e-6)
    assert together[2].std() < together[1].std() < image[1].std()  # more blur, less contrast


def test_a_model_that_predicts_no_residual_gives_the_enlargement():
    """r̂₀ = 0 at every step → the output is the enlarged input (level 0: not degraded), the residual's origin."""
    scheduler = make_upsampler_sampler(make_upsampler_scheduler().config)
    alphas = scheduler.alphas_cumprod

    def no_residual(x, t):  # x̂₀ = (x − √(1−ᾱ)·ε)/√ᾱ = 0
        return x / (1 - alphas[t.long()]).sqrt().reshape(-1, 1, 1, 1)

    low = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1
    sketch = torch.zeros(2, 1, 32, 32)
    denoiser_of = lambda *args: no_residual  # noqa: E731
    with patch("diss.upsampler.upsample_denoiser", denoiser_of):
        out = upsample(None, scheduler, low, sketch, steps=4, generator=torch.Generator().manual_seed(0), level=0)
    assert torch.allclose(out, enlarge(low, 32), atol=1e-5)


def test_sketch_guidance_0_is_the_phi_sketch_1_is_unguided_and_each_sample_is_its_own():
    """ε = ε(Φ) + w·(ε(sketch) − ε(Φ)) in one batch: w = 0 gives Φ's, w = 1 the sketch's, row i alone the same."""
    from diss.phi import phi_like

    torch.manual_seed(0)
    unet, scheduler = build_upsampler(upsampler_preset("tiny")).eval(), make_upsampler_scheduler()
    g = torch.Generator().manual_seed(1)
    low, sketch = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1, (torch.rand(3, 1, 32, 32, generator=g) > 0.8) * 2.0 - 1
    level, x, t = torch.tensor([0, 10, 20]), torch.randn(3, 3, 32, 32, generator=g), torch.tensor([500])
    with torch.no_grad():
        plain, phi = (upsample_denoiser(unet, scheduler, low, s, level)(x, t) for s in (sketch, phi_like(sketch)))
        at = {w: upsample_denoiser(unet, scheduler, low, sketch, level, w)(x, t) for w in (0.0, 1.0, 3.0)}
        alone = upsample_denoiser(unet, scheduler, low[1:2], sketch[1:2], level[1:2], 3.0)(x[1:2], t)
    assert torch.allclose(at[0.0], phi, atol=1e-5) and torch.allclose(at[1.0], plain, atol=1e-5)
    assert torch.allclose(at[3.0], phi + 3.0 * (plain - phi), atol=1e-4) and not torch.allclose(at[3.0], plain)
    assert torch.allclose(alone, at[3.0][1:2], atol=1e-5)


def test_the_loss_shrinks_the_photo_by_the_factor_it_is_given(monkeypatch):
    import diss.upsampler as up

    seen, real = [], up.shrink
    monkeypatch.setattr(up, "shrink", lambda image, factor=up.FACTOR: seen.append(factor) or real(image, factor))
    torch.manual_seed(0)
    unet, scheduler, g = build_upsampler(upsampler_preset("tiny")), make_upsampler_scheduler(), torch.Generator()
    image, sketch = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 1, 32, 32, generator=g) * 2 - 1
    for factor in (2, 4):
        assert upsampler_loss(unet, scheduler, image, sketch, g, crop=16, factor=factor).isfinite()
    assert seen == [2, 4]
