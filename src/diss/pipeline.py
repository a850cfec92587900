"""DiSSPipeline: the one public entry for generation — sketch and/or strokes (and optionally an image + mask) in,
images out, with the three dials: sketch_guidance_scale, stroke_guidance_scale and realism."""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler, UNet2DModel
from diffusers.utils import BaseOutput
from PIL import Image

from diss import defaults
from diss.backend import precision_hint
from diss.conventions import from_model, to_model
from diss.data.images import resize
from diss.data.inputs import prepare_image, prepare_mask, prepare_sketch, prepare_stroke, to_rgb_array
from diss.editing import mask_blend_hook
from diss.errors import DissError
from diss.guidance import two_condition_guidance
from diss.model import autocast_dtype
from diss.realism import combined_reference, lowpass_hook, lowpass_side, paint_mask, x0_lowpass_denoiser
from diss.sampling import sample

MAX_GUIDANCE_SCALE = defaults.MAX_GUIDANCE_SCALE  # re-exported: decided in defaults.py
MAX_PARAMETERS = 2_000_000_000  # a U-Net config asking for more is refused before anything is allocated
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_UNET_BLOCKS = {"DownBlock2D", "AttnDownBlock2D", "UpBlock2D", "AttnUpBlock2D"}
REALISM_MODES = ("lowpass", "x0")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class DiSSPipelineOutput(BaseOutput):
    images: list[Image.Image] | np.ndarray | torch.Tensor


def _scale(value, name: str, size: int, n: int):
    """A guidance scale: a finite number ≥ 0, or a grayscale map (path, PIL, array) → (n, 1, size, size) in [0, max]."""
    if isinstance(value, (int, float)):
        if not 0 <= value <= MAX_GUIDANCE_SCALE:  # also refuses nan
            raise DissError(f"{name} must be a number in [0, {MAX_GUIDANCE_SCALE:g}], not {value}")
        return float(value)
    if isinstance(value, torch.Tensor) and value.ndim <= 1:
        if not torch.isfinite(value).all() or (value < 0).any() or (value > MAX_GUIDANCE_SCALE).any():
            raise DissError(f"{name} must lie in [0, {MAX_GUIDANCE_SCALE:g}]")
        return value.float()
    gray = to_rgb_array(value, name).mean(axis=2)  # a spatial map: white = 1, black = 0
    m = torch.from_numpy(resize(gray.astype(np.float32) / 255.0, size)).float()
    return m.expand(n, 1, size, size)


def _batch(value, prepare, size: int, n: int, what: str, device) -> torch.Tensor | None:
    """One input for all n images, or a list of n inputs (one per image) → (n, C, S, S) in model range."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise DissError(f"give one {what} for all images or one per image ({n}), not {len(value)}")
        return torch.stack([to_model(prepare(v, size)) for v in value]).to(device)
    return to_model(prepare(value, size)).expand(n, -1, -1, -1).to(device)


def read_json(path: Path) -> dict:
    """A JSON object from a model folder (parsed as data, never executed); DissError when missing or malformed."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DissError(f"{path} is missing: the model folder is incomplete") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DissError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise DissError(f"{path} must hold a JSON object, not {type(value).__name__}")
    return value


def check_unet_config(cfg: dict, folder: Path) -> None:
    """Refuse U-Net configs that are not a DiSS model or would build an absurd network (e.g. a tampered file asking
    for millions of channels, which would exhaust memory before any weight is read)."""

    def bad(why: str):
        raise DissError(f"{folder / 'unet' / 'config.json'}: {why}; this is not a diss model (re-export it)")

    def small_int(key: str, lo: int, hi: int) -> int:
        v = cfg.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            bad(f"{key} must be a whole number in [{lo}, {hi}], not {v!r}")
        return v

    if cfg.get("_class_name") != "UNet2DModel":
        bad(f"_class_name is {cfg.get('_class_name')!r}, not 'UNet2DModel'")
    if cfg.get("in_channels") != 7:
        bad(f"its U-Net takes {cfg.get('in_channels')!r} channels, not 7 (image + sketch + strokes)")
    if cfg.get("out_channels") not in (3, 6):
        bad(f"out_channels is {cfg.get('out_channels')!r}, not 3 or 6")
    size = cfg.get("sample_size")
    size = size[0] if isinstance(size, list) and len(size) == 2 and size[0] == size[1] else size
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024 or size % 8:
        bad(f"sample_size must be a multiple of 8 in [8, 1024], not {cfg.get('sample_size')!r}")
    small_int("layers_per_block", 1, 8)
    small_int("norm_num_groups", 1, 256)
    channels, down, up = cfg.get("block_out_channels"), cfg.get("down_block_types"), cfg.get("up_block_types")
    if not isinstance(channels, list) or not 1 <= len(channels) <= 6:
        bad("block_out_channels must be a list of 1 to 6 numbers")
    if any(isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 2048 for c in channels):
        bad(f"block_out_channels must be whole numbers in [1, 2048], not {channels!r}")
    for name, blocks in (("down_block_types", down), ("up_block_types", up)):
        if not isinstance(blocks, list) or len(blocks) != len(channels) or not set(blocks) <= _UNET_BLOCKS:
            bad(f"{name} must list {len(channels)} of {', '.join(sorted(_UNET_BLOCKS))}")
    rough_params = 2 * 2 * 9 * cfg["layers_per_block"] * sum(c * c for c in channels)  # 3×3 convs, down and up
    if rough_params > MAX_PARAMETERS:
        bad(f"it asks for a network of ~{rough_params / 1e9:.0f}G parameters, more than any diss model")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksums(folder: Path) -> None:
    """Compare the files listed in diss.json's "sha256" with their sums: a truncated or altered file is refused."""
    meta_path = folder / "diss.json"
    if not meta_path.is_file():
        return  # a plain diffusers folder: the safetensors parser is the check
    sums = read_json(meta_path).get("sha256", {})
    if not isinstance(sums, dict):
        raise DissError(f"{meta_path}: 'sha256' must map file names to sums")
    for name, expected in sums.items():
        target = (folder / str(name)).resolve()
        if not target.is_relative_to(folder.resolve()) or not target.is_file():
            raise DissError(f"{folder}: {name} listed in diss.json is missing")
        if sha256_file(target) != expected:
            raise DissError(
                f"{folder / name} does not match its SHA-256 in diss.json: the file is damaged or was altered; "
                "restore it (e.g. git checkout, or export the model again)"
            )


class DiSSPipeline(DiffusionPipeline):
    """Sketch + colour strokes → images (DiSS). Components: ``unet`` (UNet2DModel, 7 channels in), ``scheduler``."""

    def __init__(self, unet: UNet2DModel, scheduler: DDPMScheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)

    @classmethod
    def from_pretrained(cls, path, **kwargs) -> DiSSPipeline:
        """Load a local model folder: configs parsed as JSON and checked, weights from safetensors only (pickled
        weights are refused, never opened), and checked against the SHA-256 sums in diss.json when it lists them."""
        folder = Path(path)
        if not (folder / "model_index.json").is_file() or not (folder / "unet").is_dir():
            raise DissError(f"{folder} is not a diss model folder (no model_index.json and unet/)")
        weights = list((folder / "unet").glob("*.safetensors"))
        if not weights:
            pickled = [p.name for p in (folder / "unet").iterdir() if p.suffix in PICKLE_SUFFIXES]
            extra = f" (found {', '.join(pickled)}: pickled weights are never loaded)" if pickled else ""
            raise DissError(f"{folder / 'unet'} holds no .safetensors weights{extra}")
        check_unet_config(read_json(folder / "unet" / "config.json"), folder)
        read_json(folder / "scheduler" / "scheduler_config.json")
        verify_checksums(folder)
        try:
            unet = UNet2DModel.from_pretrained(folder / "unet", use_safetensors=True, torch_dtype=torch.float32)
            scheduler = DDPMScheduler.from_pretrained(folder / "scheduler")
        except (OSError, ValueError, RuntimeError, KeyError, TypeError, json.JSONDecodeError) as e:
            raise DissError(f"{folder} holds a damaged or foreign model ({str(e).splitlines()[0][:200]})") from None
        unet = unet.eval().to(memory_format=torch.channels_last)  # faster convolutions on CPUs and GPUs
        return cls(unet=unet, scheduler=scheduler)

    def to_best_device(self, backend: str = "auto") -> DiSSPipeline:
        """Move to the GPU where there is one, with the U-Net cast to bf16 where the GPU has it (1.2× faster than
        autocast on an H100, half the memory); on a CPU keep fp32 weights (bf16, where the CPU has it, is the
        backend's: autocast or OpenVINO's bf16). ``DISS_DEVICE=cpu`` (or ``cuda``) overrides the choice. Then pick the
        U-Net's inference ``backend`` (see ``set_backend``; "auto": OpenVINO on a CPU, PyTorch on a GPU)."""
        wanted = os.environ.get("DISS_DEVICE", "").strip().lower() or ("cuda" if torch.cuda.is_available() else "cpu")
        if wanted not in ("cpu", "cuda"):
            raise DissError(f"DISS_DEVICE must be cpu or cuda, not {wanted!r}")
        if wanted == "cuda" and not torch.cuda.is_available():
            raise DissError("DISS_DEVICE=cuda, but PyTorch sees no CUDA GPU here; unset it to run on the CPU")
        if wanted == "cuda":
            self.to("cuda")
            if torch.cuda.is_bf16_supported():
                self.to(dtype=torch.bfloat16)
        return self.set_backend(backend)

    def set_backend(self, backend: str = "auto", precision: str = "auto", cache_dir=None) -> DiSSPipeline:
        """Run the U-Net on ``backend``: "torch" (the reference), "openvino" (CPUs; converted in-process and cached on
        disk, see ``diss.backend``) or "auto" (what ``diss.backend.choose`` decides for this device). Afterwards
        ``self.backend`` names the one in use, ``self.backend_note`` says in one line which it is and why, and
        ``self.backend_fallback`` is True when a backend failed and PyTorch took over. ``precision`` is the policy of
        ``__call__`` (bf16 where the CPU has it under "auto"), applied when the backend is compiled."""
        from diss.backend import select

        choice = select(self.unet, backend, precision, cache_dir)
        self._net = choice.net
        self.backend, self.backend_note, self.backend_fallback = choice.name, choice.note, choice.fallback
        if choice.name != "torch":
            choice.net.on_fallback = self._fell_back
        return self

    def _fell_back(self, why: str) -> None:
        """An OpenVINO step failed: PyTorch runs from now on (called by the backend)."""
        self._net = self.unet
        self.backend, self.backend_note, self.backend_fallback = "torch", f"backend: torch ({why})", True

    @property
    def net(self):
        """What sampling calls: the backend's U-Net, or the PyTorch module (also after it was moved or compiled)."""
        net = getattr(self, "_net", None)
        if net is None or net is self.unet or self.unet.device.type != "cpu":
            return self.unet
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
        s = self.unet.config.sample_size
        return int(s if isinstance(s, int) else s[0])

    def _sampler(self, name: str):
        if name == "ddpm":
            return DDPMScheduler.from_config(self.scheduler.config)
        if name == "ddim":
            return DDIMScheduler.from_config(self.scheduler.config)
        if name == "dpm++":
            return DPMSolverMultistepScheduler.from_config(self.scheduler.config, algorithm_type="dpmsolver++")
        if name == "dpm++sde":  # noise drawn from the generator(s) at every step, as DDPM
            return DPMSolverMultistepScheduler.from_config(self.scheduler.config, algorithm_type="sde-dpmsolver++")
        raise DissError(f"unknown sampler {name!r}; choose one of {', '.join(defaults.SAMPLERS)}")

    @torch.no_grad()
    def __call__(
        self,
        sketch=None,
        stroke=None,
        *,
        sketch_guidance_scale=defaults.SKETCH_GUIDANCE_SCALE,
        stroke_guidance_scale=defaults.STROKE_GUIDANCE_SCALE,
        realism: float | None = defaults.REALISM,
        realism_mode: str = "lowpass",
        realism_k: int = 0,
        image=None,
        mask=None,
        num_inference_steps: int = defaults.STEPS,
        num_images: int = 1,
        sampler: str = defaults.SAMPLER,
        precision: str = "auto",
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end=None,
        progress: bool = True,
    ):
        """Generate ``num_images`` images. Each input is one image for all, or a list with one per image (batches of
        different drawings in one call). A missing sketch or stroke means Φ for that condition; ``realism`` in
        [0, 1] (None: off; default 1; no effect without strokes) swaps low frequencies with the strokes-and-sketch
        reference (``realism_mode``
        "lowpass", the paper's, or "x0", on the predicted x̂₀); ``image`` + ``mask`` (white = regenerate) edits locally.
        ``precision`` "auto" runs the U-Net in bf16 autocast where the hardware has bf16 units, else fp32; the
        sampler's arithmetic stays fp32 either way. A U-Net cast to bf16 (``pipe.to(dtype=torch.bfloat16)``) runs in
        plain bf16 whatever ``precision`` says: no autocast casts, GroupNorm and SiLU in bf16 too."""
        size, n = self.size, int(num_images)
        if not 1 <= num_inference_steps <= 10_000:
            raise DissError(f"num_inference_steps must be 1 to 10000, not {num_inference_steps}")
        if n < 1:
            raise DissError(f"num_images must be at least 1, not {num_images}")
        if realism_mode not in REALISM_MODES:
            raise DissError(f"realism_mode must be one of {', '.join(REALISM_MODES)}")
        if isinstance(generator, list) and len(generator) != n:
            raise DissError(f"give one generator per image ({n}), not {len(generator)}")
        if (image is None) != (mask is None):
            raise DissError("local editing needs both image and mask")
        device = self.unet.device
        net = self.net
        amp = autocast_dtype(device, precision)
        if net is not self.unet:  # the backend runs the precision policy's choice itself
            net = net.with_precision(precision_hint(precision))
        if self.unet.dtype != torch.float32 or net is not self.unet:  # bf16 weights, or a backend's own precision
            amp = None
        sk = _batch(sketch, prepare_sketch, size, n, "sketch", device)
        st = _batch(stroke, prepare_stroke, size, n, "stroke", device)
        s_sk = _scale(sketch_guidance_scale, "sketch_guidance_scale", size, n)
        s_st = _scale(stroke_guidance_scale, "stroke_guidance_scale", size, n)
        scheduler = self._sampler(sampler)
        denoiser = two_condition_guidance(net, sk, st, s_sk, s_st)
        hooks = []
        if realism is not None:
            if not isinstance(realism, (int, float)) or not math.isfinite(realism):
                raise DissError(f"realism must be a number in [0, 1] or None, not {realism}")
            side = lowpass_side(realism, size, realism_k)
        if realism is not None and st is not None:  # the low frequencies come from the strokes: none, no realism
            reference, paint = combined_reference(sk, st), paint_mask(st)  # (n, 3, S, S), p (n, 1, S, S)
            if realism_mode == "lowpass":
                hooks.append(lowpass_hook(reference, scheduler, side, generator, paint=paint))
            else:
                denoiser = x0_lowpass_denoiser(denoiser, reference, scheduler, side, paint=paint)
        known = None
        if image is not None:
            known = _batch(image, prepare_image, size, n, "image", device)
            m = _batch(mask, lambda v, s: prepare_mask(v, s) * 255.0, size, n, "mask", "cpu").add(1.0).div(2.0)
            if not bool(m.min() == 1.0):  # all white: regenerate everything, as without a mask (same draws, same image)
                hooks.append(mask_blend_hook(known, m.to(device), scheduler, generator))  # feathered inside the mask
        if callback_on_step_end is not None:

            def callback_hook(x, t, i):  # diffusers convention: callback(pipe, step, timestep, {"latents": x}) -> dict
                result = callback_on_step_end(self, i, torch.tensor(t), {"latents": x})
                return result.get("latents", x) if isinstance(result, dict) else x

            hooks.append(callback_hook)
        shape = (n, 3, size, size)
        if isinstance(generator, list):
            noise = torch.cat([torch.randn((1, *shape[1:]), generator=g) for g in generator])
        else:
            noise = torch.randn(shape, generator=generator)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            x0 = sample(denoiser, scheduler, noise.to(device), num_inference_steps, generator, hooks, progress=progress)
        if not torch.isfinite(x0).all():  # never hand out an image made of NaNs
            raise DissError("sampling diverged (the model produced NaN or infinite values); lower the guidance scales")
        if output_type == "pt":
            images = x0
        else:
            images = from_model(x0)  # (n, S, S, 3) uint8
            if output_type == "pil":
                images = [Image.fromarray(a) for a in images]
            elif output_type != "np":
                raise DissError(f"output_type must be pil, np or pt, not {output_type!r}")
        return DiSSPipelineOutput(images=images) if return_dict else (images,)
