import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler

from diss.diffusion import make_scheduler, q_sample_at
from diss.errors import DissError
from diss.guidance import two_condition_guidance
from diss.model import build_unet, preset
from diss.realism import (
    combined_reference,
    line_mask,
    lowpass,
    lowpass_hook,
    lowpass_side,
    paint_weights,
    painted_lowpass,
    x0_lowpass_denoiser,
)
from diss.runtime import sample_noise
from diss.sampling import sample


def test_lowpass_side_follows_eq_9_with_the_papers_top_at_small_sides():
    assert lowpass_side(0.0, 256) == 32 and lowpass_side(1.0, 256) == 1  # the paper's range at its 256 px
    assert lowpass_side(0.0, 512) == 64 and lowpass_side(0.5, 512) == 32  # m/8 above it
    assert lowpass_side(0.0, 64) == 32 and lowpass_side(0.5, 64) == 16 and lowpass_side(1.0, 64) == 1  # 32 below it
    assert lowpass_side(0.0, 16) == 8  # as far as m/2 allows
    assert lowpass_side(0.0, 64, k=4) == 36 and lowpass_side(1.0, 64, k=4) == 5
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


def run(realism, generators, ref, unet, steps=4, paint=None):
    scheduler = DDIMScheduler.from_config(make_scheduler().config)
    noise = torch.cat([torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(g)) for g in generators])
    gens = [torch.Generator().manual_seed(100 + g) for g in generators]
    hook = lowpass_hook(ref, scheduler, lowpass_side(realism, 32), gens, paint=paint)
    denoiser = two_condition_guidance(unet, None, ref, 0.0, 1.0)
    with torch.no_grad():
        return sample(denoiser, scheduler, noise.to(ref.dtype), steps, generator=gens, hooks=[hook])


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return build_unet(preset("tiny"), 32).eval()


def test_low_realism_follows_the_reference_more_closely(unet):
    ref = torch.rand(2, 3, 32, 32) * 2 - 1
    err = {s: (lowpass(run(s, [0, 1], ref, unet), 4) - lowpass(ref, 4)).abs().mean().item() for s in (0.0, 1.0)}
    assert err[0.0] < err[1.0]


def test_each_sample_draws_its_noise_from_its_own_generator_only():
    """The realism hook's noise for sample i of a batch is, bit for bit, the noise sample i draws alone."""
    x = torch.zeros(3, 3, 8, 8)
    batch = sample_noise(x, [torch.Generator().manual_seed(s) for s in (5, 6, 7)])
    assert torch.equal(batch[2:], sample_noise(x[:1], [torch.Generator().manual_seed(7)]))
    assert not torch.equal(batch[0], batch[1])


@pytest.mark.parametrize("partial", [False, True])
def test_sample_i_of_a_batch_equals_the_sample_alone(unet, partial):
    """No sample of a batch is mixed with another (a mix moves a sample by ~0.1). Compared in float64, where the
    convolutions of a batch of 2 and of 1 agree to ~1e-15 on every CPU kernel path; in fp32 the batch size picks the
    kernel, and they differ by up to ~1.5e-5 (AVX2, AVX-512 and plain paths measured), so fp32 is held to 1/8 of a
    grey level only."""
    ref = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    paint = torch.ones(2, 1, 32, 32)
    if partial:
        paint[0, :, :, 20:] = 0.0
        paint[1, :, 8:24, 8:24] = 0.0
    double = copy.deepcopy(unet).double()
    both = run(0.3, [0, 1], ref.double(), double, paint=paint)
    alone = run(0.3, [1], ref[1:].double(), double, paint=paint[1:])
    assert both.dtype == torch.float64 and torch.allclose(both[1:], alone, atol=1e-5)
    both, alone = run(0.3, [0, 1], ref, unet, paint=paint), run(0.3, [1], ref[1:], unet, paint=paint[1:])
    assert torch.allclose(both[1:], alone, atol=1e-3)


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


def test_paint_mask_is_stroke_mask_for_tensors():
    """p of the painted realism: the tensor twin of conventions.stroke_mask, for every uint8 value at the threshold."""
    from diss.conventions import NO_STROKE_MIN, stroke_mask, to_model
    from diss.realism import paint_mask

    values = np.arange(256, dtype=np.uint8)
    rgb = np.stack(np.meshgrid(values, [NO_STROKE_MIN - 1, NO_STROKE_MIN, 255], [NO_STROKE_MIN, 255]), -1)
    rgb = rgb.reshape(-1, 16, 3).astype(np.uint8)  # every value beside others just below, at and above the threshold
    expected = torch.from_numpy(stroke_mask(rgb)).float()
    assert torch.equal(paint_mask(to_model(rgb)[None])[0, 0], expected)
    assert 0 < expected.mean() < 1


def _partial_paint(b=2, m=64):
    paint = torch.ones(b, 1, m, m)
    paint[0, :, :, m // 2 :] = 0.0  # strokes on the left half only
    if b > 1:
        paint[1] = (torch.rand(1, m, m, generator=torch.Generator().manual_seed(1)) < 0.8).float()  # gaps
    return paint


@pytest.mark.parametrize("n", [1, 2, 5, 8, 64])
def test_strokes_on_the_whole_canvas_give_eq_8_exactly(n):
    """p ≡ 1: the painted realism is the paper's x − LP_N(x) + LP_N(q(c_comb, t−1)), bit for bit, in both modes; also
    for the fully painted sample of a batch whose other sample is painted in part."""
    g = torch.Generator().manual_seed(n)
    ref, x = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, torch.randn(2, 3, 64, 64, generator=g)
    scheduler = make_scheduler()
    alphas = scheduler.alphas_cumprod
    gens = lambda: [torch.Generator().manual_seed(s) for s in (7, 8)]  # noqa: E731
    paint = torch.ones(2, 1, 64, 64)
    for t_prev in (-1, 500):
        expected = ref if t_prev < 0 else q_sample_at(alphas, ref, sample_noise(x, gens()), t_prev)
        expected = x - lowpass(x, n) + lowpass(expected, n)
        assert torch.equal(lowpass_hook(ref, scheduler, n, gens(), paint=paint)(x, t_prev, 0), expected)
        assert torch.equal(lowpass_hook(ref, scheduler, n, gens())(x, t_prev, 0), expected)  # paint None: p ≡ 1
        mixed = paint.clone()
        mixed[1, :, :, 40:] = 0.0
        out = lowpass_hook(ref, scheduler, n, gens(), paint=mixed)(x, t_prev, 0)
        assert torch.equal(out[0], expected[0]) and not torch.equal(out[1], expected[1])

    def denoiser(x, t):
        return torch.cat([x * 0.3, x[:, :1]], dim=1)  # some ε, and a variance channel

    t = torch.tensor([300, 300])
    a = alphas[t].reshape(-1, 1, 1, 1)
    x0 = (x - (1 - a).sqrt() * (x * 0.3)) / a.sqrt()  # x̂₀ of that ε
    x0 = x0 - lowpass(x0, n) + lowpass(ref, n)
    eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
    for p in (paint, None):
        out = x0_lowpass_denoiser(denoiser, ref, scheduler, n, paint=p)(x, t)
        assert torch.equal(out[:, :3], eps) and torch.equal(out[:, 3:], x[:, :1])


@pytest.mark.parametrize("n", [1, 4, 8])
def test_the_sketch_lines_do_not_darken_the_paint(n):
    """Cream paint with a grid of dark lines over it (a third of its pixels, as the daisy's petals at 64 px): the low
    frequencies taken are the paint's own colour, not paint and ink averaged (c_comb's); the coverage stays the
    paint's, so realism keeps its full strength between the lines."""
    paint = torch.ones(1, 1, 64, 64)
    cream = torch.tensor([0.85, 0.8, 0.6]).reshape(1, 3, 1, 1)
    sketch = torch.ones(1, 1, 64, 64)
    sketch[..., ::3, :] = -1.0  # every third row is a line
    reference = combined_reference(sketch, cream.expand(1, 3, 64, 64))
    lines = line_mask(sketch)
    assert lines.mean().item() == pytest.approx(22 / 64)
    with_lines = paint_weights(paint, n, lines)
    assert not with_lines.full.any() and torch.allclose(with_lines.coverage, torch.ones_like(paint), atol=1e-5)
    assert torch.allclose(painted_lowpass(reference, with_lines, n), cream.expand(1, 3, 64, 64), atol=1e-4)
    darkened = painted_lowpass(reference, paint_weights(paint, n), n)  # lines counted: c_comb's mean
    assert (darkened - cream).mean() < -0.5
    assert line_mask(torch.ones(1, 1, 8, 8)).sum() == 0  # white paper has no lines


@pytest.mark.parametrize("n", [1, 3, 8])
def test_unpainted_regions_keep_their_own_low_frequencies(n):
    """Strokes on the left half: far from the paint the sample is left exactly as it was; inside the paint its low
    frequencies are the paint's (not the mean of paint and white canvas, eq. 8's)."""
    paint = _partial_paint(1)
    ref = torch.where(paint.bool(), torch.tensor([-0.6, 0.2, -0.2]).reshape(1, 3, 1, 1), torch.ones(1, 3, 64, 64))
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.5
    out = lowpass_hook(ref, make_scheduler(), n, paint=paint)(x, -1, 0)
    assert torch.equal(out[..., 56:], x[..., 56:])  # ≥ 24 px from the paint: c = 0
    w = paint_weights(paint, n)
    inside = out[..., :8] - x[..., :8]  # deep in the paint: c = 1, the shift that gives the paint's low frequencies
    shift = (painted_lowpass(ref, w, n) - painted_lowpass(x, w, n))[..., :8]
    assert torch.allclose(inside, shift, atol=1e-4)
    # the paint's own mean colour lands in the painted half, where eq. 8 would pull it halfway to white
    paint_colour = torch.tensor([[-0.6, 0.2, -0.2]])
    assert ((out * paint).sum((2, 3)) / paint.sum() - paint_colour).abs().max() < 0.15
    if n == 1:
        old = lowpass_hook(ref, make_scheduler(), n)(x, -1, 0)  # paint None: eq. 8, white counted as paint
        assert ((old * paint).sum((2, 3)) / paint.sum() - paint_colour).abs().max() > 0.5


@pytest.mark.parametrize("n", [1, 2, 4, 7, 8, 16, 64])
def test_the_painted_lowpass_stays_within_the_painted_values(n):
    """LP^p_N is a weighted mean of painted pixels (LP⁺_N has no negative lobes): c·LP^p_N(y) never leaves the range
    of y's painted values, for paint of any shape (a pixel, a blob, cells, gaps)."""
    g = torch.Generator().manual_seed(n)
    masks = [torch.zeros(1, 1, 64, 64) for _ in range(3)]
    masks[0][..., 0, 0] = 1.0
    masks[1][..., 20:30, 40:50] = 1.0
    masks[2] = (F.interpolate(torch.rand(1, 1, 8, 8, generator=g), size=(64, 64)) < 0.5).float()
    for paint in [*masks, _partial_paint(2)[1:]]:
        w = paint_weights(paint, n)
        for y in (torch.ones(1, 3, 64, 64), torch.rand(1, 3, 64, 64, generator=g) * 2 - 1):
            assert (w.coverage * painted_lowpass(y, w, n)).abs().max() <= 1.0 + 1e-5
        assert w.coverage.min() >= 0 and w.coverage.max() <= 1


@pytest.mark.slow
def test_strokes_on_half_the_canvas_leave_the_free_half_to_the_model_on_the_shipped_model():
    """Unpainted white is "free here", not white paint: at realism 1 the free half keeps the mean colour it has without
    realism (the default x̂₀ mode: a few ΔE) and is not washed towards white (both modes). Eq. 8 with white counted as
    paint, on the same 2 seeds: ΔE 30 and 31 (x̂₀, low-pass), L* +29; here ΔE 8.5 and 15.5 (x̂₀, low-pass), L* +6
    (measured at fp32): the low frequencies are the paint's between the sketch's lines, the daisy's light petals, so
    the free half next to them lightens a little (ΔE 4 and 18, L* −3 while the lines were counted as paint)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    from diss.folder import SHIPPED_MODEL, load_example
    from diss.pipeline import DiSSPipeline

    pipe = DiSSPipeline.from_pretrained(SHIPPED_MODEL)
    pipe.set_progress_bar_config(disable=True)
    sketch, stroke = load_example("daisy")
    half = stroke.copy()
    half[:, half.shape[1] // 2 :] = 255  # strokes on the left half only

    def free_half_lab(**kw):
        gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
        images = pipe(sketch, half, num_images=2, generator=gens, output_type="np", precision="fp32",
                      output_size=pipe.size, **kw)  # fmt: skip
        free = images.images[:, :, 32:].reshape(2, -1, 3).mean(axis=1)  # (2, 3) mean RGB of the free half
        return rgb2lab(free[:, None])[:, 0]  # (2, 3)

    off = free_half_lab(realism=None)
    for mode in ("lowpass", None):  # None: the default
        lab = free_half_lab(realism=1.0, **({"realism_mode": mode} if mode else {}))
        assert (lab[:, 0] - off[:, 0]).mean() < 8.0, mode  # lightness: eq. 8 raises it by ~29
        if mode is None:
            assert deltaE_ciede2000(off, lab).mean() < 10.0
