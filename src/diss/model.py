"""The DiSS U-Net: an ε-predictor on concat(x_t, sketch, stroke) (7 channels in), built from a named, typed preset."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from diffusers import UNet2DModel

from diss.conventions import BASE_IN_CHANNELS
from diss.errors import DissError


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the U-Net. ``learned_variance`` doubles the output (ε and the variance interpolation v, iDDPM)."""

    preset: str
    block_out_channels: tuple[int, ...]
    layers_per_block: int
    attention: tuple[bool, ...]  # self-attention at each resolution level
    norm_num_groups: int = 32
    attention_head_dim: int = 32
    dropout: float = 0.0
    learned_variance: bool = False

    @property
    def out_channels(self) -> int:
        return 6 if self.learned_variance else 3

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict) -> ModelConfig:
        try:
            fields = {f.name for f in dataclasses.fields(ModelConfig)}
            unknown = set(data) - fields
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
            d = dict(data)
            d["block_out_channels"] = tuple(int(c) for c in d["block_out_channels"])
            d["attention"] = tuple(bool(a) for a in d["attention"])
            config = ModelConfig(**d)
        except (KeyError, TypeError, ValueError) as e:
            raise DissError(f"invalid model config ({e})") from None
        if len(config.attention) != len(config.block_out_channels):
            raise DissError("invalid model config (attention and block_out_channels differ in length)")
        return config


#: named presets: tiny for tests, small for CPU training (~6.3M), base for GPU training at 64 px (~15.9M, the shipped
#: models). Self-attention only at the lowest resolution (8×8 at 64 px): at 16×16 it cost ~45% of a CPU sampling step in
#: bf16, and fp16 weights of base stay near 32 MB, small enough to ship in the repository.
PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig("tiny", (16, 32), 1, (False, True), norm_num_groups=8, attention_head_dim=8),
    "small": ModelConfig("small", (32, 64, 128, 128), 2, (False, False, False, True)),
    "base": ModelConfig("base", (64, 128, 192, 192), 2, (False, False, False, True)),
}


def preset(name: str, learned_variance: bool = False) -> ModelConfig:
    """The named preset; ``learned_variance`` switches on the 6-channel output."""
    if name not in PRESETS:
        raise DissError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], learned_variance=learned_variance)


def build_unet(config: ModelConfig, sample_size: int) -> UNet2DModel:
    """A diffusers UNet2DModel for ``config`` at ``sample_size`` px; input (B, 7, S, S), output (B, 3 or 6, S, S)."""
    if sample_size % (2 ** (len(config.block_out_channels) - 1)):
        raise DissError(
            f"--size {sample_size} must be divisible by {2 ** (len(config.block_out_channels) - 1)} "
            f"for preset {config.preset}"
        )
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention))
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=BASE_IN_CHANNELS,
        out_channels=config.out_channels,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=config.norm_num_groups,
        attention_head_dim=config.attention_head_dim,
        dropout=config.dropout,
    )


def model_input(x_t: torch.Tensor, sketch: torch.Tensor, stroke: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S), (B, 1, S, S), (B, 3, S, S) → (B, 7, S, S), the order the U-Net was trained with."""
    return torch.cat([x_t, sketch, stroke], dim=1)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
