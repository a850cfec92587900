"""``DiSSPipeline.check_inputs``: every argument of a call checked before any work, one clear line for the first
fault (diffusers' ``check_inputs``)."""

from __future__ import annotations

from diss import defaults
from diss.defaults import MAX_GUIDANCE_SCALE
from diss.errors import DissError

OUTPUT_TYPES = ("pil", "np", "pt", "latent")


def check_output_size(pipe, size, name: str = "output_size") -> None:
    """``size`` (None: the largest) is one the pipeline gives: its base's, or its upsampler's in a cascade folder."""
    if size is not None and size not in pipe.output_sizes:
        has = " or ".join(map(str, pipe.output_sizes))
        why = "" if len(pipe.output_sizes) > 1 else " (this model folder holds no upsampler)"
        raise DissError(f"{name} must be {has}, not {size!r}{why}")


def check_scale(name: str, value) -> None:
    """A guidance scale given as a number: in [0, MAX_GUIDANCE_SCALE] (nan refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_GUIDANCE_SCALE:
        raise DissError(f"{name} must be a number in [0, {MAX_GUIDANCE_SCALE:g}], not {value!r}")


def check_inputs(
    self, *, num_inference_steps, num_images, realism, realism_mode, image, mask_image, strength, sampler,
    generator, latents, output_type, sketch_guidance_scale, stroke_guidance_scale,
    callback_on_step_end_tensor_inputs, guidance_start=0.0, guidance_end=1.0, output_size=None,
    upsampler_steps=defaults.UPSAMPLER_STEPS, upsampler_noise_level=defaults.UPSAMPLER_NOISE_LEVEL,
) -> None:  # fmt: skip
    """Everything about the arguments that can be checked before any work: one clear line for the first fault.
    ``num_inference_steps`` None: the model's own (always valid)."""
    steps = 1 if num_inference_steps is None else num_inference_steps
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise DissError(f"num_inference_steps must be a whole number, not {num_inference_steps!r}")
    if not 1 <= steps <= defaults.MAX_STEPS:
        raise DissError(f"num_inference_steps must be 1 to {defaults.MAX_STEPS}, not {num_inference_steps}")
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise DissError(f"num_images must be a whole number, at least 1, not {num_images!r}")
    if realism_mode not in defaults.REALISM_MODES:
        raise DissError(f"realism_mode must be one of {', '.join(defaults.REALISM_MODES)}, not {realism_mode!r}")
    if realism is not None and (
        isinstance(realism, bool) or not isinstance(realism, (int, float)) or not 0 <= realism <= 1
    ):
        raise DissError(f"realism must be a number in [0, 1] or None, not {realism}")
    for name, value in (("sketch_guidance_scale", sketch_guidance_scale), ("stroke_guidance_scale",
                                                                            stroke_guidance_scale)):  # fmt: skip
        if isinstance(value, (int, float)) and not 0 <= value <= MAX_GUIDANCE_SCALE:  # also refuses nan
            raise DissError(f"{name} must be a number in [0, {MAX_GUIDANCE_SCALE:g}], not {value}")
    for name, value in (("guidance_start", guidance_start), ("guidance_end", guidance_end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise DissError(f"{name} must be a number in [0, 1], not {value!r}")
    if guidance_start > guidance_end:
        raise DissError(f"guidance_start ({guidance_start}) must not be after guidance_end ({guidance_end})")
    check_output_size(self, output_size)
    top = defaults.TIMESTEPS  # a step per timestep of the upsampler's schedule at most
    if isinstance(upsampler_steps, bool) or not isinstance(upsampler_steps, int) or not 1 <= upsampler_steps <= top:
        raise DissError(f"upsampler_steps must be a whole number, 1 to {top}, not {upsampler_steps!r}")
    if (
        isinstance(upsampler_noise_level, bool)
        or not isinstance(upsampler_noise_level, int)
        or not (0 <= upsampler_noise_level < defaults.UPSAMPLER_LEVELS)
    ):
        raise DissError(f"upsampler_noise_level must be a whole number in [0, {defaults.UPSAMPLER_LEVELS}), "
                        f"not {upsampler_noise_level!r}")  # fmt: skip
    if mask_image is not None and image is None:
        raise DissError("local editing needs the image to edit as well as mask_image")
    if not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise DissError(f"strength must be a number in (0, 1], not {strength!r}")
    if strength < 1 and image is None:
        raise DissError("strength below 1 needs an image to start from (SDEdit)")
    if sampler is not None and sampler not in defaults.SAMPLERS:
        raise DissError(f"unknown sampler {sampler!r}; choose one of {', '.join(defaults.SAMPLERS)}")
    if isinstance(generator, list) and len(generator) != num_images:
        raise DissError(f"give one generator per image ({num_images}), not {len(generator)}")
    shape = (num_images, 3, self.size, self.size)
    if latents is not None and tuple(latents.shape) != shape:
        raise DissError(f"latents must have shape {shape}, not {tuple(latents.shape)}")
    if output_type not in OUTPUT_TYPES:
        raise DissError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, not {output_type!r}")
    unknown = set(callback_on_step_end_tensor_inputs) - set(self._callback_tensor_inputs)
    if unknown:
        allowed = self._callback_tensor_inputs
        raise DissError(f"callback_on_step_end_tensor_inputs may name {allowed}, not {sorted(unknown)}")
