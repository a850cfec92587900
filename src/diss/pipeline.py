"""DiSSPipeline: the one public entry for generation, a diffusers pipeline — sketch and/or strokes (and optionally a
photo: SDEdit with ``strength``, a local edit with ``mask_image``) in, images out, with the three dials:
sketch_guidance_scale, stroke_guidance_scale and realism.

    pipe = DiSSPipeline.from_pretrained("pretrained/flowers")
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    image = pipe(sketch, stroke, generator=torch.manual_seed(0)).images[0]
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler, DiffusionPipeline, UNet2DModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import BaseOutput
from PIL import Image

from diss import defaults
from diss.backend import precision_hint
from diss.checks import check_inputs, check_scale
from diss.conditions import as_batch, as_mask, as_scale
from diss.data.inputs import prepare_image, prepare_sketch, prepare_stroke
from diss.editing import x0_mask_denoiser
from diss.errors import DissError
from diss.folder import (
    FOLDER_VERSION,
    STUDENT_PART,
    UPSAMPLER_PARTS,
    check_model_folder,
    finish_folder,
    model_steps,
    quiet_loading,
    read_json,
)
from diss.guidance import guidance_interval, two_condition_guidance
from diss.phi import phi_like
from diss.realism import (
    combined_reference,
    line_mask,
    lowpass_hook,
    lowpass_side,
    paint_mask,
    x0_lowpass_denoiser,
)
from diss.runtime import Runtime, randn
from diss.sampling import sample, step_callback
from diss.schedulers import make_sampler
from diss.student import choose_student, make_student_sampler, student_denoiser
from diss.upsampler import FACTOR, cast_level_embedding, make_upsampler_sampler, upsample

log = logging.getLogger(__name__)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class DiSSPipelineOutput(BaseOutput):
    images: list[Image.Image] | np.ndarray | torch.Tensor


class DiSSPipeline(DiffusionPipeline):
    """Sketch + colour strokes → images (DiSS). Components: ``unet`` (UNet2DModel, 7 channels in: x_t, sketch,
    strokes) and ``scheduler``, the scheduler that steps (swap it as in any diffusers pipeline, or pass
    ``sampler=``); in a cascade folder also ``upsampler`` (UNet2DModel: x_t, the base image enlarged, the sketch;
    ``diss.upsampler``) and ``upsampler_scheduler``, which take the base's image to ``upsampler_size``."""

    model_cpu_offload_seq = "unet->upsampler"
    _optional_components = [*UPSAMPLER_PARTS, STUDENT_PART]
    _callback_tensor_inputs = ["latents"]

    def __init__(self, unet: UNet2DModel, scheduler, upsampler: UNet2DModel | None = None, upsampler_scheduler=None,
                 student: UNet2DModel | None = None):  # fmt: skip
        super().__init__()
        if upsampler is not None:
            cast_level_embedding(upsampler)
        self.register_modules(unet=unet, scheduler=scheduler, upsampler=upsampler,
                              upsampler_scheduler=upsampler_scheduler, student=student)  # fmt: skip
        self.image_processor = VaeImageProcessor(do_resize=False, do_normalize=True)  # [-1, 1] ↔ [0, 1], PIL
        self.diss_meta: dict = {}  # diss.json of the folder it came from (training record), written back on save
        self._interrupt, self._said = False, set()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> DiSSPipeline:
        """Load a local model folder through diffusers, after diss' checks: configs parsed as JSON and bounded, weights
        from safetensors only (pickled weights are refused, never opened), and checked against the SHA-256 sums in
        diss.json. ``torch_dtype`` / ``dtype`` (default fp32) and ``variant`` as in diffusers; nothing is downloaded."""
        folder = Path(pretrained_model_name_or_path)
        if not folder.is_dir():
            raise DissError(f"{folder} is not a diss model folder (no such folder: diss loads local folders only)")
        check_model_folder(folder, kwargs.get("variant"))
        if "torch_dtype" in kwargs:  # the name diffusers users know; diffusers itself now calls it dtype
            kwargs.setdefault("dtype", kwargs.pop("torch_dtype"))
        kwargs.setdefault("dtype", torch.float32)  # the weights are saved in fp16: computed in fp32 unless asked
        kwargs.update(use_safetensors=True, local_files_only=True)
        try:
            with quiet_loading():
                pipe = super().from_pretrained(folder, **kwargs)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
            raise DissError(f"{folder} holds a damaged or foreign model ({str(e).splitlines()[0][:200]})") from None
        pipe.diss_meta = read_json(folder / "diss.json") if (folder / "diss.json").is_file() else {}
        if pipe.diss_meta.get("version", FOLDER_VERSION) < 2 and type(pipe.scheduler) is DDPMScheduler:
            pipe.scheduler = make_sampler(defaults.SAMPLER, pipe.scheduler.config)  # v1 kept the training scheduler
        for net in (pipe.unet, pipe.upsampler, pipe.student):
            if net is not None:
                net.eval().to(memory_format=torch.channels_last)  # faster convolutions on CPUs and GPUs
        return pipe

    def save_pretrained(self, save_directory, safe_serialization: bool = True, **kwargs) -> None:
        """diffusers' save (safetensors only), plus diss.json (the training record and the weights' SHA-256, checked on
        every load) and the small ``pipeline.py`` through which diffusers' own loader finds this class."""
        if not safe_serialization:
            raise DissError("diss saves safetensors only (pickled weights are never loaded)")
        folder = Path(save_directory)
        super().save_pretrained(folder, safe_serialization=True, **kwargs)
        finish_folder(folder, self.diss_meta, self.size, self.upsampler_factor)

    def to_best_device(self, backend: str = "auto") -> DiSSPipeline:
        """Move to the GPU where there is one, with the U-Net cast to bf16 where the GPU has it (1.2× faster than
        autocast on an H100, half the memory); on a CPU keep fp32 weights (bf16, where the CPU has it, is the
        backend's: autocast or OpenVINO's bf16; ``runtime.Runtime``). ``DISS_DEVICE=cpu`` (or ``cuda``) overrides the
        choice. Then pick the
        U-Net's inference ``backend`` (see ``set_backend``; "auto": OpenVINO on a CPU, PyTorch on a GPU)."""
        runtime = Runtime.detect()
        if runtime.device.type != "cpu":
            self.to(runtime.device)
            if runtime.sampling_weights_dtype != torch.float32:
                self.to(dtype=runtime.sampling_weights_dtype)
        return self.set_backend(backend)

    def set_backend(self, backend: str = "auto", precision: str = "auto", cache_dir=None) -> DiSSPipeline:
        """Run the U-Net on ``backend``: "torch" (the reference), "openvino" (CPUs; converted in-process and cached on
        disk, see ``diss.backend``) or "auto" (what ``runtime.Runtime.backend`` decides here). Afterwards
        ``self.backend`` names the one in use, ``self.backend_note`` says in one line which it is and why, and
        ``self.backend_fallback`` is True when a backend failed and PyTorch took over. ``precision`` is the policy of
        ``__call__`` (bf16 where the CPU has it under "auto"), applied when the backend is compiled."""
        from diss.backend import select

        choice = select(self.unet, backend, precision, cache_dir)
        self._net = choice.net
        self.backend, self.backend_note, self.backend_fallback = choice.name, choice.note, choice.fallback
        if choice.name != "torch":
            choice.net.on_fallback = self._fell_back
        if self.student is not None:  # the student on the same backend (its own fallback: torch, said by the backend)
            self._student_net = select(self.student, choice.name, precision, cache_dir).net
        return self

    def _fell_back(self, why: str) -> None:
        """An OpenVINO step failed: PyTorch runs from now on (called by the backend)."""
        self._net = self.unet
        self.backend, self.backend_note, self.backend_fallback = "torch", f"backend: torch ({why})", True

    @property
    def net(self):
        """What sampling calls: the backend's U-Net, or the PyTorch module (also after it was moved or compiled)."""
        return self._backend_net("unet")

    def _backend_net(self, name: str):
        """The backend's network for component ``name`` ("unet" or "student"), or the PyTorch module."""
        module, net = getattr(self, name), getattr(self, "_net" if name == "unet" else "_student_net", None)
        if net is None or net is module or module.device.type != "cpu" or getattr(net, "failed", None):
            return module
        return net

    def compile(self, mode: str = "default", **kwargs) -> DiSSPipeline:
        """torch.compile the U-Net in place (``nn.Module.compile``; ``kwargs`` go to torch.compile). Pays on a GPU with
        large batches: 158 vs 70 images/s at batch 512 on an H100 (BENCHMARKS.md), after ~30 s of compiling for each
        new batch size; on a CPU it takes minutes to compile for ≤ 15%."""
        if mode not in COMPILE_MODES:
            raise DissError(f"compile mode must be one of {', '.join(COMPILE_MODES)}, not {mode!r}")
        warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`")  # diffusers'
        self.unet.compile(mode=mode, dynamic=False, **kwargs)
        if getattr(self, "backend", "torch") != "torch":  # compiling is PyTorch's: it runs the module from now on
            self._net = self.unet
            self.backend, self.backend_note = "torch", "backend: torch (torch.compile asked for)"
        return self

    @property
    def size(self) -> int:
        """The base model's side (the layout, colours and dials are decided at this size)."""
        s = self.unet.config.sample_size
        return int(s if isinstance(s, int) else s[0])

    @property
    def default_steps(self) -> int:
        """The sampling steps a call takes unless given ``num_inference_steps``: the model folder's own (diss.json
        ``"defaults"``, ``diss export --steps``), else ``defaults.STEPS``."""
        return model_steps(self.diss_meta)

    @property
    def upsampler_factor(self) -> int | None:
        """The upsampler's output side over its input's, as its model folder says (diss.json, checked on load; a
        pipeline built in code: ``upsampler.FACTOR``), None without an upsampler."""
        if self.upsampler is None:
            return None
        return int((self.diss_meta.get("upsampler") or {}).get("factor", FACTOR))

    @property
    def upsampler_size(self) -> int | None:
        """The side the cascade gives (the base's × ``upsampler_factor``), None without an upsampler."""
        return None if self.upsampler is None else self.size * self.upsampler_factor

    @property
    def output_sizes(self) -> tuple[int, ...]:
        """The sides ``output_size`` may ask for: the base's, and the upsampler's where there is one."""
        return (self.size,) if self.upsampler is None else (self.size, self.upsampler_size)

    @property
    def interrupt(self) -> bool:
        """Set ``pipe._interrupt = True`` in ``callback_on_step_end`` to stop sampling after that step (diffusers)."""
        return self._interrupt

    @property
    def num_timesteps(self) -> int:
        return getattr(self, "_num_timesteps", 0)

    check_inputs = check_inputs  # diffusers' name; every argument checked before any work (diss.checks)

    def _precision(self, precision: str, name: str = "unet"):
        """(the network ``name`` to call, the autocast dtype or None) under the precision policy (``runtime``)."""
        module = getattr(self, name)
        net, amp = self._backend_net(name), Runtime(module.device, precision).autocast
        if net is not module:  # the backend runs the precision policy's choice itself
            net = net.with_precision(precision_hint(precision))
        if module.dtype != torch.float32 or net is not module:  # bf16 weights, or a backend's own precision
            amp = None
        return net, amp

    def _denoiser(self, sk, st, s_sk, s_st, fast: bool, sampler, steps: int, window, precision: str):
        """(the scheduler that steps, the denoiser, the autocast dtype or None): the student with the guidance folded
        in (``diss.student``), or the teacher's 2-D guidance (eq. 7) in its guidance interval."""
        if fast:
            scheduler, (net, amp) = make_student_sampler(self.scheduler.config), self._precision(precision, "student")
            scheduler.set_timesteps(steps)
            return scheduler, student_denoiser(net, scheduler.alphas_cumprod, sk, st, s_sk, s_st, steps), amp
        scheduler, (net, amp) = self._fresh_scheduler(sampler, steps), self._precision(precision)
        guided = guidance_interval(scheduler.timesteps.tolist(), *window)
        return scheduler, two_condition_guidance(net, sk, st, s_sk, s_st, guided), amp

    def _mode(self, fast: bool | None, steps: int | None, scales, window, sampler) -> tuple[bool, int]:
        """(whether the student runs this call, the steps): the student (1, 2 or 4 steps, one U-Net call each, the
        guidance folded in; ``student.choose_student``) where asked for or the folder's choice, what it cannot do on
        the teacher, said once per pipeline."""
        record = self.diss_meta.get(STUDENT_PART) if self.student is not None else None
        fast, why = choose_student(record, fast, steps, scales, window, sampler)
        if why and why not in self._said:
            self._said.add(why)
            log.warning("diss: %s", why)
        own = defaults.STUDENT_STEPS if fast else self.default_steps
        self._num_timesteps = own if steps is None else steps  # diffusers' num_timesteps
        return fast, self._num_timesteps

    def _inputs(self, sketch, stroke, image, mask_image, n: int):
        """The sketch (n, 1, S, S), strokes (n, 3, S, S), photo (n, 3, S, S) and mask (n, 1, S, S) in {0, 1} at the
        base's size in model range, each None where not given (the mask also when it is all white)."""
        size, device = self.size, self.unet.device
        sk = as_batch(sketch, prepare_sketch, size, n, "sketch", device)
        st = as_batch(stroke, prepare_stroke, size, n, "stroke", device)
        photo = as_batch(image, prepare_image, size, n, "image", device)
        mask = None if mask_image is None else as_mask(mask_image, size, n, device)
        return sk, st, photo, mask

    def _fresh_scheduler(self, sampler: str | None, steps: int):
        """The scheduler that steps this call (``sampler``'s, else a copy of ``self.scheduler``), set to ``steps``: a
        fresh one per call, as calls may run side by side in the app's threads."""
        base = self.scheduler
        scheduler = make_sampler(sampler, base.config) if sampler else type(base).from_config(base.config)
        scheduler.set_timesteps(steps)
        return scheduler

    def _realism_and_edit(self, denoiser, scheduler, sk, st, realism, realism_mode, realism_k, photo, mask, generator):
        """Realism (eq. 8–9; on x̂₀ inside the denoiser, or the paper's hook on x_t) and the local edit (on x̂₀, then
        the final composite): (the denoiser, the hooks after each step)."""
        hooks = []
        if realism is not None and st is not None:  # the low frequencies come from the strokes: none, no realism
            side = lowpass_side(realism, self.size, realism_k)
            reference, paint = combined_reference(sk, st), paint_mask(st)  # (n, 3, S, S), p (n, 1, S, S)
            lines = None if sk is None else line_mask(sk)  # (n, 1, S, S): left out of the paint's low frequencies
            if realism_mode == "lowpass":
                hooks.append(lowpass_hook(reference, scheduler, side, generator, paint=paint, lines=lines))
            else:
                denoiser = x0_lowpass_denoiser(denoiser, reference, scheduler, side, paint=paint, lines=lines)
        if mask is not None:
            denoiser, composite = x0_mask_denoiser(denoiser, photo, mask, scheduler)  # feathered inside the mask
            hooks.append(composite)
        return denoiser, hooks

    @torch.no_grad()
    def upsample(self, x0, sketch=None, image=None, mask_image=None, *, output_size: int | None = None,
                 steps: int = defaults.UPSAMPLER_STEPS, noise_level: int = defaults.UPSAMPLER_NOISE_LEVEL,
                 sketch_guidance_scale: float = defaults.UPSAMPLER_SKETCH_GUIDANCE_SCALE,
                 generator=None) -> torch.Tensor:  # fmt: skip
        """The cascade's second stage alone: images x0 (n, 3, s, s) in model range (the base's, ``output_type=
        "latent"``, or real ones shrunk) → (n, 3, size, size) in [-1, 1], with the sketch at ``size`` (Φ without one);
        an edit keeps the photo's pixels outside the mask at ``size``, feathered inside as at the base's size;
        ``sketch_guidance_scale`` ≠ 1 guides by the sketch (``upsampler.upsample_denoiser``; none without one)."""
        if self.upsampler is None:
            raise DissError("this model folder holds no upsampler")
        check_scale("sketch_guidance_scale", sketch_guidance_scale)
        size, n, device = output_size or self.output_sizes[-1], x0.shape[0], self.upsampler.device
        x0 = x0.to(device, torch.float32)
        sk = as_batch(sketch, prepare_sketch, size, n, "sketch", device)  # (n, 1, size, size): the user's lines, sharp
        scale = 1.0 if sk is None else sketch_guidance_scale  # no lines: nothing to guide by
        sk = phi_like(x0.new_empty(n, 1, size, size)) if sk is None else sk  # no lines: Φ at the upsampler's size
        scheduler = make_upsampler_sampler(self.upsampler_scheduler.config)
        m = None if mask_image is None else as_mask(mask_image, size, n, device)  # (n, 1, size, size)
        photo = None if m is None else as_batch(image, prepare_image, size, n, "image", device)  # (n, 3, size, size)
        return upsample(self.upsampler, scheduler, x0, sk, steps, generator, noise_level, self.progress_bar, photo, m,
                        scale)  # fmt: skip

    @torch.no_grad()
    def __call__(
        self,
        sketch=None,
        stroke=None,
        *,
        sketch_guidance_scale=defaults.SKETCH_GUIDANCE_SCALE,
        stroke_guidance_scale=defaults.STROKE_GUIDANCE_SCALE,
        realism: float | None = defaults.REALISM,
        realism_mode: str = defaults.REALISM_MODE,
        realism_k: int = 0,
        guidance_start: float = defaults.GUIDANCE_START,
        guidance_end: float = defaults.GUIDANCE_END,
        image=None,
        mask_image=None,
        strength: float = 1.0,
        num_inference_steps: int | None = None,
        output_size: int | None = None,
        upsampler_steps: int = defaults.UPSAMPLER_STEPS,
        upsampler_noise_level: int = defaults.UPSAMPLER_NOISE_LEVEL,
        num_images: int = 1,
        sampler: str | None = None,
        fast: bool | None = None,
        precision: str = "auto",
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end=None,
        callback_on_step_end_tensor_inputs: list[str] = ("latents",),
    ):
        """Generate ``num_images`` images. Each input is one image for all, or a list with one per image (batches of
        different drawings in one call); a missing sketch or stroke means Φ for that condition. ``realism`` in [0, 1]
        (None: off; no effect without strokes) swaps low frequencies with the strokes-and-sketch reference (eq. 8–9;
        ``realism_mode`` "x0" on the predicted x̂₀, which every scheduler can trust, or "lowpass", the paper's, on x_t
        after each step). ``image`` + ``strength`` < 1: SDEdit from the image noised to that share of the schedule;
        ``image`` + ``mask_image`` (white = regenerate): a local edit keeping every pixel outside the mask. ``sampler``
        (``defaults.SAMPLERS``) steps instead of ``self.scheduler``; ``num_inference_steps`` None: the folder's own
        (``self.default_steps``). ``fast``: the folder's distilled student, the teacher, or None: as ``_mode`` decides.
        ``precision`` "auto": the U-Net in bf16 where the hardware has it, sampling fp32.
        ``output_type`` as in diffusers: "pil", "np" (B, H, W, 3), "pt" (B, 3, H, W) in [0, 1], "latent" in [-1, 1].
        ``callback_on_step_end(pipe, i, t, {"latents": x})`` may return {"latents": ...} and set ``pipe._interrupt``
        to stop. ``output_size``: the base's side (``self.size``) or, in a cascade folder, the upsampler's (its
        default): ``upsampler_steps`` steps on the base's image, degraded to ``upsampler_noise_level`` and enlarged,
        with the sketch at that size (an edit keeps the photo's pixels)."""
        self.check_inputs(num_inference_steps=num_inference_steps, num_images=num_images, realism=realism,
                          realism_mode=realism_mode, image=image, mask_image=mask_image, strength=strength,
                          sampler=sampler, generator=generator, latents=latents, output_type=output_type,
                          sketch_guidance_scale=sketch_guidance_scale, stroke_guidance_scale=stroke_guidance_scale,
                          guidance_start=guidance_start, guidance_end=guidance_end, output_size=output_size,
                          callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
                          upsampler_steps=upsampler_steps, upsampler_noise_level=upsampler_noise_level)  # fmt: skip
        size, n, device, output_size = self.size, num_images, self.unet.device, output_size or self.output_sizes[-1]
        self._interrupt = False
        # 1. the conditions and the photo, at the model's size, in model range
        sk, st, photo, mask = self._inputs(sketch, stroke, image, mask_image, n)
        s_sk = as_scale(sketch_guidance_scale, "sketch_guidance_scale", size, n)
        s_st = as_scale(stroke_guidance_scale, "stroke_guidance_scale", size, n)
        fast, num_inference_steps = self._mode(fast, num_inference_steps, (s_sk, s_st), (guidance_start, guidance_end),
                                               sampler)  # fmt: skip
        # 2. the scheduler that steps, and the denoiser: 2-D guidance (eq. 7), then realism (eq. 8–9) and the edit
        scheduler, denoiser, amp = self._denoiser(sk, st, s_sk, s_st, fast, sampler, num_inference_steps,
                                                  (guidance_start, guidance_end), precision)  # fmt: skip
        denoiser, hooks = self._realism_and_edit(denoiser, scheduler, sk, st, realism, realism_mode, realism_k,
                                                 photo, mask, generator)  # fmt: skip
        # 3. the starting noise (one generator per image: sample i of a batch = the same sample alone)
        noise = randn((n, 3, size, size), generator, device) if latents is None else latents.to(device, torch.float32)
        # 4. the loop
        on_step_end = step_callback(self, callback_on_step_end, callback_on_step_end_tensor_inputs)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            x0 = sample(denoiser, scheduler, noise, num_inference_steps, generator, hooks, init=photo if strength < 1
                        else None, strength=strength, on_step_end=on_step_end, progress_bar=self.progress_bar,
                        interrupted=lambda: self._interrupt)  # fmt: skip
            if output_size != size and not self._interrupt:  # 5. the cascade's second stage
                x0 = self.upsample(x0, sketch, image, mask_image, output_size=output_size, steps=upsampler_steps,
                                   noise_level=upsampler_noise_level, generator=generator)  # fmt: skip
        if not torch.isfinite(x0).all():  # never hand out an image made of NaNs
            raise DissError("sampling diverged (the model produced NaN or infinite values); lower the guidance scales")
        # 6. postprocess, as diffusers: [-1, 1] → [0, 1] → np / PIL
        images = self.image_processor.postprocess(x0.float(), output_type=output_type)
        return DiSSPipelineOutput(images=images) if return_dict else (images,)
