"""The samplers by name: each a diffusers scheduler made from a model's scheduler config (the same noise schedule)."""

from __future__ import annotations

from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from diss import defaults
from diss.diffusion import X0_CLIP, make_scheduler
from diss.errors import DissError
from diss.runtime import sample_noise


def make_sampler(name: str = defaults.SAMPLER, config=None):
    """The scheduler that steps for sampler ``name`` (one of ``defaults.SAMPLERS``), from ``config`` (a model's
    scheduler config; None: the training schedule's, ``diffusion.make_scheduler()``), x̂₀ clipped (``X0_CLIP``)."""
    config = make_scheduler().config if config is None else config
    if name == "ddpm":
        return DDPMScheduler.from_config(config, **X0_CLIP)
    if name == "ddim":
        return DDIMScheduler.from_config(config, **X0_CLIP)
    if name == "dpm++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", **X0_CLIP)
    if name == "dpm++sde":  # noise drawn from the generator(s) at every step, as DDPM
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="sde-dpmsolver++", **X0_CLIP)
    raise DissError(f"unknown sampler {name!r}; choose one of {', '.join(defaults.SAMPLERS)}")


def sampler_name(scheduler) -> str | None:
    """The diss name of ``scheduler`` (``make_sampler``'s inverse), None for a scheduler diss does not name."""
    if isinstance(scheduler, DPMSolverMultistepScheduler):
        sde = scheduler.config.algorithm_type.startswith("sde-")
        return "dpm++sde" if sde else "dpm++" if scheduler.config.algorithm_type == "dpmsolver++" else None
    for name, cls in (("ddim", DDIMScheduler), ("ddpm", DDPMScheduler)):
        if type(scheduler) is cls:
            return name
    return None


def step_noise(scheduler, like, generator) -> dict:
    """The keyword arguments of ``scheduler.step`` for its noise: DPM-Solver++ SDE takes it as ``variance_noise``, drawn
    here as diffusers would draw it (``runtime.randn``: the same numbers) and sent to the device without a wait; the
    others draw it from ``generator`` themselves (DDPM, one blocking copy per step on a GPU) or need none (DDIM)."""
    if sampler_name(scheduler) == "dpm++sde":
        return {"variance_noise": sample_noise(like, generator)}
    return {"generator": generator}
