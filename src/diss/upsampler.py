"""The cascade's second stage: a fully convolutional diffusion upsampler, 64 → 256 (Ho et al., Cascaded Diffusion).

A v-predicting diffusers UNet2DModel on concat(r_t, the low-resolution image enlarged to the output size (3), the
sketch at the output size (1)). It diffuses the residual r = (x − enlarged low) / RESIDUAL_SCALE (SRDiff, Li et
al. 2022): the bicubic enlargement is where it starts (r̂₀ = 0 gives it), so training only has to learn the detail,
which a CPU session can afford. Noise-conditioning augmentation: in training the low-resolution input is degraded
(Gaussian blur and a little noise) to a random level that the model is told (its ``class_labels``, embedded like a
timestep) and the residual is taken from what the model sees; at sampling a small fixed level, so the model copes
with the base model's own artefacts. No attention: a model trained on 64 px crops runs on the whole 256 px image.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

from diss import defaults
from diss.conventions import UPSAMPLER_IN_CHANNELS, from_model
from diss.diffusion import BETA_SCHEDULES, X0_CLIP
from diss.editing import x0_mask_denoiser
from diss.errors import DissError
from diss.phi import phi_like
from diss.runtime import randn, seeded
from diss.sampling import sample

#: output side / input side of a new upsampler (a model folder says its own: DiSSPipeline.upsampler_factor)
FACTOR = defaults.UPSAMPLER_FACTOR
#: noise-conditioning augmentation: levels are whole numbers 0 … AUG_MAX − 1 (embedded like timesteps); level ℓ blurs
#: the low-resolution input by a Gaussian of σ = BLUR_MAX·ℓ/AUG_MAX pixels and adds noise of σ = NOISE_MAX·ℓ/AUG_MAX.
#: Training draws ℓ/AUG_MAX = u², u uniform (mostly mild levels); sampling uses defaults.UPSAMPLER_NOISE_LEVEL
AUG_MAX = defaults.UPSAMPLER_LEVELS
BLUR_MAX = 1.2
NOISE_MAX = 0.1
RESIDUAL_SCALE = defaults.UPSAMPLER_RESIDUAL_SCALE
CROP = defaults.UPSAMPLER_CROP


@dataclass(frozen=True)
class UpsamplerConfig:
    """Shape of the upsampler's U-Net (no attention anywhere, so crops and whole images agree)."""

    preset: str
    block_out_channels: tuple[int, ...]
    layers_per_block: int
    norm_num_groups: int = 32

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict) -> UpsamplerConfig:
        try:
            d = dict(data)
            d["block_out_channels"] = tuple(int(c) for c in d["block_out_channels"])
            return UpsamplerConfig(**d)
        except (KeyError, TypeError, ValueError) as e:
            raise DissError(f"invalid upsampler config ({e})") from None


PRESETS: dict[str, UpsamplerConfig] = {
    "tiny": UpsamplerConfig("tiny", (8, 16), 1, norm_num_groups=4),
    # ~7.8 GMAC per 256 px forward (a 4-level 32/64/128/128 U-Net with 2 layers: 33.6): 4 steps fit the 4 s budget
    "small": UpsamplerConfig("small", (16, 32, 64, 128), 1, norm_num_groups=8),
    # ~24.5 GMAC, 7.8M, 3× small's forward: one step beside the base should fit 4 s on 2 AVX2 cores (BENCHMARKS.md)
    "medium": UpsamplerConfig("medium", (24, 48, 96, 192), 2, norm_num_groups=8),
    "base": UpsamplerConfig("base", (32, 64, 128, 128), 2),
}


def upsampler_preset(name: str) -> UpsamplerConfig:
    if name not in PRESETS:
        raise DissError(f"unknown upsampler preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def build_upsampler(config: UpsamplerConfig, sample_size: int = CROP) -> UNet2DModel:
    """A UNet2DModel (B, 7, S, S) → v (B, 3, S, S); ``class_labels`` (B,) the augmentation level. Any S divisible by
    2^(levels − 1) works: ``sample_size`` only records the training crop."""
    levels = len(config.block_out_channels)
    unet = UNet2DModel(
        sample_size=sample_size,
        in_channels=UPSAMPLER_IN_CHANNELS,
        out_channels=3,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        down_block_types=("DownBlock2D",) * levels,
        up_block_types=("UpBlock2D",) * levels,
        mid_block_type="UNetMidBlock2D",
        add_attention=False,
        norm_num_groups=config.norm_num_groups,
        class_embed_type="timestep",
    )
    return cast_level_embedding(unet)


def cast_level_embedding(unet: UNet2DModel) -> UNet2DModel:
    """Make the level's embedding take the weights' dtype: diffusers feeds the sinusoidal features of
    ``class_labels`` in fp32 to its linear layers whatever their dtype (fp16 / bf16 / fp64 weights would fail)."""
    embedding = getattr(unet, "class_embedding", None)
    if embedding is not None and not getattr(embedding, "_diss_casts", False):
        embedding.register_forward_pre_hook(lambda m, args: (args[0].to(next(m.parameters()).dtype), *args[1:]))
        embedding._diss_casts = True
    return unet


def make_upsampler_scheduler(beta_schedule: str = "linear") -> DDPMScheduler:
    """The upsampler's training schedule: v-prediction (steady at few steps), x̂₀ clipped to [-1, 1]."""
    return DDPMScheduler(num_train_timesteps=defaults.TIMESTEPS, beta_schedule=BETA_SCHEDULES[beta_schedule],
                         prediction_type="v_prediction", **X0_CLIP)  # fmt: skip


def make_upsampler_sampler(config) -> DDIMScheduler:
    """DDIM with trailing timesteps (a few steps start from pure noise, t = 999, not from t = 750 at 4 steps), stepping
    from ε (``upsample_denoiser`` turns the model's v into ε); the residual's x̂₀ clipped to the range it can span."""
    return DDIMScheduler.from_config(config, timestep_spacing="trailing", prediction_type="epsilon", clip_sample=True,
                                     clip_sample_range=2.0 / RESIDUAL_SCALE, thresholding=False)  # fmt: skip


def shrink(image: torch.Tensor, factor: int = FACTOR) -> torch.Tensor:
    """(B, 3, H, W) → (B, 3, H/f, W/f), antialiased bicubic: the low-resolution image a photo's base sample would be."""
    h, w = image.shape[-2:]
    return F.interpolate(image, size=(h // factor, w // factor), mode="bicubic", antialias=True).clamp(-1, 1)


def enlarge(low: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, h, w) → (B, 3, size, size), bicubic: the upsampler's view of the low-resolution image."""
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def gaussian_blur(image: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) blurred by a Gaussian of ``sigma`` (B,) pixels per sample (0: unchanged), reflected at the edges."""
    b, c, h, w = image.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    x = torch.arange(-radius, radius + 1, device=image.device, dtype=image.dtype)  # (K,)
    k = torch.exp(-(x**2) / (2 * sigma.to(image).clamp_min(1e-3).reshape(b, 1) ** 2))  # (B, K); σ → 0: a delta
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B·C, K)
    y = F.pad(image.reshape(1, b * c, h, w), (radius,) * 4, mode="reflect")
    y = F.conv2d(y, k.reshape(b * c, 1, 1, -1), groups=b * c)  # rows
    y = F.conv2d(y, k.reshape(b * c, 1, -1, 1), groups=b * c)  # columns
    return y.reshape(b, c, h, w)


def degrade(low: torch.Tensor, level: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """Noise-conditioning augmentation of the low-resolution input (B, 3, h, w): blurred and noised by ``level`` (B,)
    (see AUG_MAX); ``noise`` (B, 3, h, w) standard Gaussian, None at level 0 everywhere."""
    strength = level.to(low).reshape(-1, 1, 1, 1) / AUG_MAX
    out = gaussian_blur(low, BLUR_MAX * strength.reshape(-1))
    return out if noise is None else out + NOISE_MAX * strength * noise.to(low)


def draw_levels(b: int, generator, device) -> torch.Tensor:
    """Training levels (B,): ℓ = ⌊AUG_MAX·u²⌋, u uniform, mostly mild, up to AUG_MAX − 1."""
    where = generator.device if generator is not None else "cpu"
    u = torch.rand(b, generator=generator, device=where).to(device)
    return (AUG_MAX * u**2).long().clamp_max(AUG_MAX - 1)


def upsampler_input(x_t: torch.Tensor, low: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) r_t, (B, 3, S, S), (B, 1, S, S) → (B, 7, S, S), the order the upsampler is trained with."""
    return torch.cat([x_t, low, sketch], dim=1)


def random_crops(tensors: list[torch.Tensor], side: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """The same random ``side`` × ``side`` window of each sample of every tensor (B, C, H, W)."""
    b, _, h, w = tensors[0].shape
    if side > min(h, w):
        raise DissError(f"the crop ({side} px) is larger than the images ({h}×{w})")
    where = generator.device if generator is not None else "cpu"
    ys = torch.randint(0, h - side + 1, (b,), generator=generator, device=where).tolist()
    xs = torch.randint(0, w - side + 1, (b,), generator=generator, device=where).tolist()
    windows = list(zip(ys, xs, strict=True))
    return [torch.stack([t[i, :, y : y + side, x : x + side] for i, (y, x) in enumerate(windows)]) for t in tensors]


def upsampler_loss(
    unet, scheduler, image: torch.Tensor, sketch: torch.Tensor, generator: torch.Generator | None = None,
    crop: int | None = CROP, factor: int = FACTOR,
) -> torch.Tensor:  # fmt: skip
    """‖v − v̂‖² of the residual on random crops: the photo (B, 3, S, S) shrunk by ``factor``, degraded to a random level
    that the model is told and enlarged back is the low-resolution input; r = (photo − it) / RESIDUAL_SCALE is
    diffused; ``sketch`` (B, 1, S, S)."""
    b, device = image.shape[0], image.device
    where = generator.device if generator is not None else "cpu"  # the training step's generator: CPU or GPU

    def draw(fn, *args):
        return fn(*args, generator=generator, device=where).to(device)

    low = shrink(image, factor)  # made on the fly: one cache serves any factor
    s = draw_levels(b, generator, device)
    big = enlarge(degrade(low, s, draw(torch.randn, low.shape)), image.shape[-1])
    if crop is not None:
        image, big, sketch = random_crops([image, big, sketch], crop, generator)
    r0 = (image - big) / RESIDUAL_SCALE
    t = draw(torch.randint, 0, scheduler.config.num_train_timesteps, (b,))
    noise = draw(torch.randn, r0.shape)
    r_t = scheduler.add_noise(r0, noise, t)
    v = scheduler.get_velocity(r0, noise, t)
    pred = unet(upsampler_input(r_t, big, sketch), t, class_labels=s).sample
    return F.mse_loss(pred.float(), v.float())


def upsample_denoiser(unet, scheduler, low: torch.Tensor, sketch: torch.Tensor, level: torch.Tensor,
                      sketch_guidance_scale: float = defaults.UPSAMPLER_SKETCH_GUIDANCE_SCALE):  # fmt: skip
    """The upsampler as a ``sampling.Denoiser`` of the residual r that predicts ε: the model's v at (r_t, t) becomes
    ε = √ᾱ_t·v + √(1−ᾱ_t)·r_t (the same x̂₀), so the samplers and ``sampling.edit_x0`` (local editing) take it as
    they take the base model's. The degraded enlarged ``low`` (B, 3, S, S), the ``sketch`` (B, 1, S, S) and the
    augmentation ``level`` (B,) are bound; ``scheduler`` gives ᾱ. A ``sketch_guidance_scale`` w ≠ 1 guides by the
    lines as the base does (eq. 7 with one condition): ε = ε(Φ) + w·(ε(sketch) − ε(Φ)), both in one batch."""
    dtype = getattr(unet, "dtype", torch.float32)
    guided = sketch_guidance_scale != 1.0
    if guided:  # (2B, ...): the sketch, then Φ
        low, sketch, level = torch.cat([low, low]), torch.cat([sketch, phi_like(sketch)]), torch.cat([level, level])
    inputs = upsampler_input(torch.zeros_like(low), low, sketch).to(dtype)  # (B, 7, S, S); channels 0–2 take x_t
    alphas = scheduler.alphas_cumprod.to(low.device, torch.float32)

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        inputs[:, :3] = torch.cat([x, x]) if guided else x
        ts = t.reshape(-1).expand(b) if t.numel() > 1 else t.reshape(1).expand(b)  # (B,)
        ts2 = torch.cat([ts, ts]) if guided else ts
        v = unet(inputs, ts2, class_labels=level.to(x.device)).sample.float()
        if guided:
            v_sketch, v_phi = v.chunk(2)  # v is linear in ε at fixed r_t, so guiding v guides ε
            v = v_phi + sketch_guidance_scale * (v_sketch - v_phi)
        a = alphas.index_select(0, ts.long()).reshape(-1, 1, 1, 1)
        return a.sqrt() * v + (1 - a).sqrt() * x

    return denoiser


def upsample(unet, scheduler, low: torch.Tensor, sketch: torch.Tensor, steps: int = defaults.UPSAMPLER_STEPS,
             generator=None, level: int = defaults.UPSAMPLER_NOISE_LEVEL, progress_bar=None,
             image: torch.Tensor | None = None, mask: torch.Tensor | None = None,
             sketch_guidance_scale: float = defaults.UPSAMPLER_SKETCH_GUIDANCE_SCALE) -> torch.Tensor:  # fmt: skip
    """(B, 3, h, w) low-resolution images in model range and the (B, 1, S, S) sketch → (B, 3, S, S) in [-1, 1]: the
    low-resolution input degraded to ``level`` (its noise from ``generator``, one per sample for a list) and
    enlarged, plus the residual from ``steps`` of ``scheduler`` from pure noise. A local edit: ``image`` (B, 3, S, S)
    and ``mask`` (B, 1, S, S) in {0, 1}: the residual edited on x̂₀ (``editing.x0_mask_denoiser``) and every pixel
    outside the mask the image's exactly; ``sketch_guidance_scale`` as in ``upsample_denoiser``."""
    size, b, device = sketch.shape[-1], low.shape[0], low.device
    levels = torch.full((b,), int(level), device=device, dtype=torch.long)
    big = enlarge(degrade(low, levels, randn(low.shape, generator, device)) if level > 0 else low, size)  # 0: as is
    noise = randn((b, 3, size, size), generator, device)
    denoiser, hooks = upsample_denoiser(unet, scheduler, big, sketch.to(device), levels, sketch_guidance_scale), []
    if mask is not None:
        denoiser, hook = x0_mask_denoiser(denoiser, (image - big) / RESIDUAL_SCALE, mask, scheduler)
        hooks.append(hook)
    r = sample(denoiser, scheduler, noise, steps, generator, hooks, progress_bar=progress_bar)
    out = (big + RESIDUAL_SCALE * r).clamp(-1, 1)
    return out if mask is None else mask * out + (1 - mask) * image  # outside the mask: the image, bit for bit


@torch.no_grad()
def preview_upsamples(unet, scheduler_config, items: list[dict], steps: int, seed: int, device, factor: int = FACTOR):
    """For training previews: (the low-resolution inputs enlarged, the upsampler's samples), uint8 (S, S, 3) each."""
    image = torch.stack([it["image"] for it in items]).to(device)  # (B, 3, S, S)
    sketch = torch.stack([it["sketch"] for it in items]).to(device)  # (B, 1, S, S)
    low = shrink(image, factor)
    sampler = make_upsampler_sampler(scheduler_config)
    out = upsample(unet, sampler, low, sketch, steps, seeded(range(seed, seed + len(items))))
    return list(from_model(enlarge(low, image.shape[-1]))), list(from_model(out))
