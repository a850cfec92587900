"""The student's parts: its inputs, its start from the teacher, v ↔ x̂₀ ↔ ε, the distillation target, its grid."""

import json

import numpy as np
import pytest
import torch

from diss import defaults
from diss.diffusion import make_scheduler
from diss.errors import DissError
from diss.model import build_unet, model_input, preset
from diss.sampling import sample
from diss.student import (
    alpha_sigma,
    ddim_step,
    distill_target,
    eps_from_v,
    make_student_sampler,
    step_count_value,
    student_denoiser,
    student_from_teacher,
    student_grid,
    student_input,
    x0_from_v,
)


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return build_unet(preset("tiny"), 16).eval()


def conditions(b=2, s=16):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(b, 3, s, s, generator=g), torch.rand(b, 1, s, s, generator=g) * 2 - 1,
            torch.rand(b, 3, s, s, generator=g) * 2 - 1)  # fmt: skip


@torch.no_grad()
def test_the_student_starts_as_the_teachers_conditional_network_whatever_its_new_inputs(teacher):
    student = student_from_teacher(teacher).eval()
    x, sk, st = conditions()
    t = torch.tensor([10, 900])
    expected = teacher(model_input(x, sk, st), t).sample
    for scales, k in (((0.0, 0.0), 1), ((1.5, 3.0), 4), ((torch.tensor([0.5, 2.0]), 1.0), 2)):
        got = student(student_input(x, sk, st, *scales, k), t).sample
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert student.config.in_channels == 10 and teacher.config.in_channels == 7


def test_its_inputs_are_the_base_inputs_then_the_scales_and_the_step_count_as_maps():
    x, sk, st = conditions()
    spatial = torch.full((2, 1, 16, 16), 1.5)
    spatial[:, :, :8] = 3.0
    inp = student_input(x, sk, st, spatial, torch.tensor([0.0, 3.0]), 2)
    assert inp.shape == (2, 10, 16, 16)
    torch.testing.assert_close(inp[:, :7], model_input(x, sk, st))
    torch.testing.assert_close(inp[:, 7:8], spatial / defaults.STUDENT_SCALE_MAX)
    assert inp[0, 8].eq(0).all() and inp[1, 8].eq(3.0 / defaults.STUDENT_SCALE_MAX).all()
    assert inp[:, 9].eq(step_count_value(2)).all()
    assert [step_count_value(k) for k in defaults.STUDENT_STEP_COUNTS] == [0.0, 0.5, 1.0]
    with pytest.raises(DissError, match="the student takes 1, 2, 4 steps, not 3"):
        step_count_value(3)


def test_v_x0_and_eps_are_one_parameterisation():
    ac = make_scheduler().alphas_cumprod
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 3, 8, 8, generator=g), torch.randn(3, 3, 8, 8, generator=g)
    alpha, sigma = alpha_sigma(ac, torch.tensor([0, 500, 999]))
    x_t = alpha * x0 + sigma * eps
    v = alpha * eps - sigma * x0
    torch.testing.assert_close(x0_from_v(x_t, v, alpha, sigma), x0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eps_from_v(x_t, v, alpha, sigma), eps, atol=1e-5, rtol=1e-5)
    a, s = alpha_sigma(ac, torch.tensor([-1]))
    assert a.item() == 1.0 and s.item() == 0.0  # t = −1: the clean image


def test_the_target_is_the_x0_whose_ddim_step_lands_where_asked():
    ac = make_scheduler().alphas_cumprod
    g = torch.Generator().manual_seed(0)
    x_t, x_next = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    for t, t_next in ((999, 749), (499, 249), (249, -1)):
        alpha, sigma = alpha_sigma(ac, torch.full((4,), t))
        alpha_n, sigma_n = alpha_sigma(ac, torch.full((4,), t_next))
        target = distill_target(x_t, x_next, alpha, sigma, alpha_n, sigma_n)
        landed = ddim_step(x_t, target, alpha, sigma, alpha_n, sigma_n)
        torch.testing.assert_close(landed, x_next, atol=1e-4, rtol=1e-4)


def test_its_grid_is_ddims_trailing_spacing():
    scheduler = make_student_sampler(make_scheduler().config)
    for k in defaults.STUDENT_STEP_COUNTS:
        scheduler.set_timesteps(k)
        assert scheduler.timesteps.tolist() == student_grid(k)[:-1]
    assert student_grid(4) == [999, 749, 499, 249, -1] and student_grid(1) == [999, -1]


@torch.no_grad()
def test_one_step_of_the_student_gives_its_x0_through_the_usual_loop(teacher):
    student = student_from_teacher(teacher).eval()
    scheduler = make_student_sampler(make_scheduler().config)
    noise, sk, st = conditions()
    denoiser = student_denoiser(student, scheduler.alphas_cumprod, sk, st, 1.5, 1.5, 1)
    out = sample(denoiser, scheduler, noise, 1)
    t = torch.tensor([999, 999])
    alpha, sigma = alpha_sigma(scheduler.alphas_cumprod, t)
    v = student(student_input(noise, sk, st, 1.5, 1.5, 1), t).sample
    torch.testing.assert_close(out, x0_from_v(noise, v, alpha, sigma).clamp(-1, 1), atol=1e-4, rtol=1e-4)


def test_only_a_base_u_net_has_a_student():
    from diss.upsampler import build_upsampler, upsampler_preset

    with pytest.raises(DissError, match="distilled from a base U-Net"):
        student_from_teacher(build_upsampler(upsampler_preset("tiny"), 16))


# ------------------------------------------------------------------------------------------- in the pipeline


def load(folder):
    from diss.pipeline import DiSSPipeline

    pipe = DiSSPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def drawing():
    sketch = torch.full((32, 32), 255, dtype=torch.uint8)
    sketch[8:24, 15:17] = 0
    stroke = torch.full((32, 32, 3), 255, dtype=torch.uint8)
    stroke[10:20, 10:20] = torch.tensor([200, 40, 40], dtype=torch.uint8)
    return sketch.numpy(), stroke.numpy()


def calls_of(net):
    """Counts the forwards of ``net`` (a torch module) and the images they took."""
    seen = {"calls": 0, "images": 0}

    def hook(module, args):
        seen["calls"] += 1
        seen["images"] += args[0].shape[0]

    net.register_forward_pre_hook(hook)
    return seen


def test_fast_mode_is_one_forward_per_step_of_the_student(tiny_student_model):
    pipe = load(tiny_student_model)
    student, teacher = calls_of(pipe.student), calls_of(pipe.unet)
    sk, st = drawing()
    for steps in defaults.STUDENT_STEP_COUNTS:
        before = student["calls"]
        pipe(sk, st, fast=True, num_inference_steps=steps, generator=torch.Generator().manual_seed(0))
        assert student["calls"] - before == steps
    pipe(sk, st, fast=True, generator=torch.Generator().manual_seed(0))  # its default: STUDENT_STEPS
    assert student["calls"] == sum(defaults.STUDENT_STEP_COUNTS) + defaults.STUDENT_STEPS
    assert student["images"] == student["calls"] and teacher["calls"] == 0  # the guidance is folded in
    pipe(sk, st, generator=torch.Generator().manual_seed(0))  # the folder does not make it the default: the teacher
    assert teacher["calls"] > 0 and student["calls"] == sum(defaults.STUDENT_STEP_COUNTS) + defaults.STUDENT_STEPS


def test_what_the_student_cannot_do_runs_on_the_teacher_said_once(tiny_student_model, caplog):
    pipe = load(tiny_student_model)
    student, teacher = calls_of(pipe.student), calls_of(pipe.unet)
    sk, st = drawing()
    for kw in ({"num_inference_steps": 3}, {"sketch_guidance_scale": 4.0}, {"guidance_start": 0.0},
               {"sampler": "dpm++"}, {"sketch_guidance_scale": 4.0}):  # fmt: skip
        pipe(sk, st, fast=True, **{"num_inference_steps": 2, **kw})
    assert student["calls"] == 0 and teacher["calls"] > 0
    notes = [r.getMessage() for r in caplog.records if "the teacher runs this call" in r.getMessage()]
    assert len(notes) == 4  # the scale's note once
    assert "the student takes 1, 2, 4 steps, not 3" in notes[0] and "scales 0 to 3" in notes[1]


def test_fast_mode_without_a_student_is_one_clear_line(tiny_model):
    with pytest.raises(DissError, match="has no distilled student"):
        load(tiny_model)(*drawing(), fast=True)


def test_sample_i_of_a_fast_batch_is_the_same_sample_alone(tiny_student_model):
    pipe = load(tiny_student_model)
    sk, st = drawing()
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    batch = pipe(sk, st, num_images=2, fast=True, generator=gens, output_type="np").images
    alone = pipe(sk, st, fast=True, generator=torch.Generator().manual_seed(4), output_type="np").images
    np.testing.assert_allclose(batch[1], alone[0], atol=1e-3)  # fp32: the batch size picks the conv kernel


def test_realism_and_a_local_edit_work_around_the_student(tiny_student_model):
    pipe = load(tiny_student_model)
    sk, st = drawing()
    photo = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255  # regenerate the left half
    out = pipe(sk, st, image=photo, mask_image=mask, fast=True, generator=torch.Generator().manual_seed(0),
               output_type="np").images[0]  # fmt: skip
    np.testing.assert_array_equal((out[:, 20:] * 255).round().astype(np.uint8), photo[:, 20:])  # kept outside
    a = pipe(sk, st, realism=None, fast=True, generator=torch.Generator().manual_seed(0), output_type="np").images
    b = pipe(sk, st, realism=1.0, fast=True, generator=torch.Generator().manual_seed(0), output_type="np").images
    assert np.abs(a - b).max() > 1e-3  # the dial acts on the student's x̂₀


def test_a_student_beside_another_teacher_is_refused(tiny_student_model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_student_model, copy)
    meta = json.loads((copy / "diss.json").read_text())
    meta["student"]["teacher_sha256"] = {"unet/diffusion_pytorch_model.safetensors": "0" * 64}
    (copy / "diss.json").write_text(json.dumps(meta))
    with pytest.raises(DissError, match="its student was not distilled from this folder's unet"):
        load(copy)
