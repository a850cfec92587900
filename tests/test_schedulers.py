"""The samplers by name, and the x̂₀ clip every scheduler made from a diss config applies."""

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from diss import defaults
from diss.diffusion import make_scheduler
from diss.errors import DissError
from diss.schedulers import make_sampler, sampler_name


@pytest.mark.parametrize("name", defaults.SAMPLERS)
def test_each_name_makes_its_scheduler_and_is_read_back(name):
    assert sampler_name(make_sampler(name)) == name
    assert sampler_name(make_sampler(name, make_sampler("ddim").config)) == name  # from a folder's DDIM config too
    with pytest.raises(DissError, match="unknown sampler"):
        make_sampler("euler")


@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_the_clip_as_thresholding_is_clip_sample_bit_for_bit(cls):
    """DDIM and DDPM steps are unchanged by X0_CLIP (thresholding at ratio 1 = clip_sample) ..."""
    plain = {k: v for k, v in make_scheduler().config.items() if not k.startswith("_")}
    plain.update(thresholding=False)
    a, b = cls.from_config(plain), cls.from_config(make_scheduler().config)
    x, eps = torch.randn(2, 3, 8, 8) * 2, torch.randn(2, 3, 8, 8) * 3  # x̂₀ far outside [-1, 1]
    a.set_timesteps(10)
    b.set_timesteps(10)
    for t in a.timesteps[:4]:
        pa = a.step(eps, t, x, generator=torch.Generator().manual_seed(0)).prev_sample
        pb = b.step(eps, t, x, generator=torch.Generator().manual_seed(0)).prev_sample
        assert torch.equal(pa, pb)


def test_a_dpm_solver_made_from_the_pipelines_config_clips_x0_too():
    """... and DPM-Solver, which ignores clip_sample, clips through it: also when a diffusers user swaps it in."""
    swapped = DPMSolverMultistepScheduler.from_config(make_sampler("ddim").config)
    unclipped = DPMSolverMultistepScheduler.from_config(make_sampler("ddim").config, thresholding=False)
    x, eps = torch.randn(1, 3, 8, 8) * 0.1, torch.randn(1, 3, 8, 8) * 4  # x̂₀ far outside [-1, 1]
    for scheduler, clipped in ((swapped, True), (unclipped, False)):
        scheduler.set_timesteps(10)
        scheduler.step(eps, scheduler.timesteps[0], x)
        x0 = scheduler.model_outputs[-1]  # the x̂₀ the multistep update keeps
        assert (x0.abs().max() <= 1.0) == clipped
    assert sampler_name(swapped) == "dpm++"
