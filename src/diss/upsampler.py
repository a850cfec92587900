"""The cascade's second stage: a fully convolutional diffusion upsampler, 64 → 256 (Ho et al., Cascaded Diffusion).

A v-predicting diffusers UNet2DModel on concat(x_t (3), the low-resolution image enlarged to the output size (3), the
sketch at the output size (1)), so the user's lines sharpen the edges. Noise-conditioning augmentation: in training
the low-resolution input is noised to a random level s of the noise schedule and s is given to the model (its
``class_labels``, embedded like a timestep); at sampling a small fixed level, so the model copes with the base
model's own artefacts. No attention: a model trained on 64 px crops runs on the whole 256 px image.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel

from diss import defaults
from diss.conventions import from_model
from diss.diffusion import BETA_SCHEDULES, X0_CLIP, randn, seeded
from diss.errors import DissError
from diss.sampling import sample

#: channels of the upsampler's input: x_t (3), the enlarged low-resolution image (3), the sketch (1)
IN_CHANNELS = 7
#: output side / input side
FACTOR = 4
#: noise-conditioning augmentation: training levels are drawn from 0 … AUG_MAX (timesteps of the schedule); sampling
#: uses defaults.UPSAMPLER_NOISE_LEVEL
AUG_MAX = 250
#: the training crop's side (a 64 px crop of a 256 px photo costs what a 64 px image costs the base model)
CROP = 64


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
        in_channels=IN_CHANNELS,
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
    return DDPMScheduler(beta_schedule=BETA_SCHEDULES[beta_schedule], prediction_type="v_prediction", **X0_CLIP)


def make_upsampler_sampler(config) -> DDIMScheduler:
    """DDIM with trailing timesteps (a few steps start from pure noise, t = 999, not from t = 750 at 4 steps), stepping
    from ε: ``upsample_denoiser`` turns the model's v into ε."""
    return DDIMScheduler.from_config(config, timestep_spacing="trailing", prediction_type="epsilon", **X0_CLIP)


def shrink(image: torch.Tensor, factor: int = FACTOR) -> torch.Tensor:
    """(B, 3, H, W) → (B, 3, H/f, W/f), antialiased bicubic: the low-resolution image a photo's base sample would be."""
    h, w = image.shape[-2:]
    return F.interpolate(image, size=(h // factor, w // factor), mode="bicubic", antialias=True).clamp(-1, 1)


def enlarge(low: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, h, w) → (B, 3, size, size), bicubic: the upsampler's view of the low-resolution image."""
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def noise_augment(low: torch.Tensor, level: torch.Tensor, scheduler, noise: torch.Tensor) -> torch.Tensor:
    """q(low, s) = √ᾱ_s·low + √(1−ᾱ_s)·ε, the level s (B,) per sample; s = 0 keeps it (nearly) clean."""
    return scheduler.add_noise(low, noise, level)


def upsampler_input(x_t: torch.Tensor, low: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S), (B, 3, S, S), (B, 1, S, S) → (B, 7, S, S), the order the upsampler is trained with."""
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
    crop: int | None = CROP, aug_max: int = AUG_MAX,
) -> torch.Tensor:  # fmt: skip
    """‖v − v̂‖² on random crops: the photo (B, 3, S, S) shrunk by FACTOR and enlarged back is the low-resolution
    input, noised to a random level in [0, aug_max] that the model is told; ``sketch`` (B, 1, S, S)."""
    low = enlarge(shrink(image), image.shape[-1])  # made on the fly: one cache serves any factor
    if crop is not None:
        image, low, sketch = random_crops([image, low, sketch], crop, generator)
    b, device = image.shape[0], image.device
    where = generator.device if generator is not None else "cpu"  # the training step's generator: CPU or GPU

    def draw(fn, *args):
        return fn(*args, generator=generator, device=where).to(device)

    t = draw(torch.randint, 0, scheduler.config.num_train_timesteps, (b,))
    s = draw(torch.randint, 0, aug_max + 1, (b,))
    noise, low_noise = draw(torch.randn, image.shape), draw(torch.randn, low.shape)
    low = noise_augment(low, s, scheduler, low_noise)
    x_t = scheduler.add_noise(image, noise, t)
    v = scheduler.get_velocity(image, noise, t)
    pred = unet(upsampler_input(x_t, low, sketch), t, class_labels=s).sample
    return F.mse_loss(pred.float(), v.float())


def upsample_denoiser(unet, scheduler, low: torch.Tensor, sketch: torch.Tensor, level: torch.Tensor):
    """The upsampler as a ``sampling.Denoiser`` that predicts ε: the model's v at (x_t, t) becomes
    ε = √ᾱ_t·v + √(1−ᾱ_t)·x_t (the same x̂₀), so the samplers and ``sampling.edit_x0`` (local editing) take it as
    they take the base model's. The (augmented) enlarged ``low`` (B, 3, S, S), the ``sketch`` (B, 1, S, S) and the
    augmentation ``level`` (B,) are bound; ``scheduler`` gives ᾱ."""
    dtype = getattr(unet, "dtype", torch.float32)
    inputs = upsampler_input(torch.zeros_like(low), low, sketch).to(dtype)  # (B, 7, S, S); channels 0–2 take x_t
    alphas = scheduler.alphas_cumprod.to(low.device, torch.float32)

    def denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        inputs[:, :3] = x
        ts = t.reshape(-1).expand(x.shape[0]) if t.numel() > 1 else t.reshape(1).expand(x.shape[0])  # (B,)
        v = unet(inputs, ts, class_labels=level.to(x.device)).sample.float()
        a = alphas.index_select(0, ts.long()).reshape(-1, 1, 1, 1)
        return a.sqrt() * v + (1 - a).sqrt() * x

    return denoiser


def upsample(unet, scheduler, low: torch.Tensor, sketch: torch.Tensor, steps: int = defaults.UPSAMPLER_STEPS,
             generator=None, level: int = defaults.UPSAMPLER_NOISE_LEVEL, progress_bar=None,
             edit=None) -> torch.Tensor:  # fmt: skip
    """(B, 3, h, w) low-resolution images in model range and the (B, 1, S, S) sketch → (B, 3, S, S) in [-1, 1]: the
    low-resolution input enlarged, noised to ``level`` (the noise from ``generator``, one per sample for a list),
    then ``steps`` of ``scheduler`` from pure noise. ``edit(denoiser) → (denoiser, hook)`` wraps the denoiser (a
    local edit: ``editing.x0_mask_denoiser``)."""
    size, b, device = sketch.shape[-1], low.shape[0], low.device
    big = enlarge(low, size)
    levels = torch.full((b,), int(level), device=device, dtype=torch.long)
    big = noise_augment(big, levels, scheduler, randn(big.shape, generator, device)) if level > 0 else big
    noise = randn((b, 3, size, size), generator, device)
    denoiser, hooks = upsample_denoiser(unet, scheduler, big, sketch.to(device), levels), []
    if edit is not None:
        denoiser, hook = edit(denoiser)
        hooks.append(hook)
    return sample(denoiser, scheduler, noise, steps, generator, hooks, progress_bar=progress_bar)


@torch.no_grad()
def preview_upsamples(unet, scheduler_config, items: list[dict], steps: int, seed: int, device):
    """For training previews: (the low-resolution inputs enlarged, the upsampler's samples), uint8 (S, S, 3) each."""
    image = torch.stack([it["image"] for it in items]).to(device)  # (B, 3, S, S)
    sketch = torch.stack([it["sketch"] for it in items]).to(device)  # (B, 1, S, S)
    low = shrink(image)
    out = upsample(
        unet, make_upsampler_sampler(scheduler_config), low, sketch, steps, seeded(range(seed, seed + len(items)))
    )
    return list(from_model(enlarge(low, image.shape[-1]))), list(from_model(out))
