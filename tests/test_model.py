import pytest
import torch

from diss.errors import DissError
from diss.model import PRESETS, ModelConfig, build_unet, count_parameters, model_input, preset


def test_presets_have_the_documented_sizes():
    sizes = {name: count_parameters(build_unet(cfg, 64)) for name, cfg in PRESETS.items()}
    assert sizes["tiny"] < 500_000
    assert 5e6 < sizes["small"] < 8e6
    assert 12e6 <= sizes["base"] <= 20e6  # fp16 weights ≤ 40 MB, shippable


@pytest.mark.parametrize("learned", [False, True])
def test_forward_shapes(learned):
    unet = build_unet(preset("tiny", learned_variance=learned), 32)
    x = model_input(torch.randn(2, 3, 32, 32), torch.randn(2, 1, 32, 32), torch.randn(2, 3, 32, 32))
    assert x.shape == (2, 7, 32, 32)
    out = unet(x, torch.tensor([1, 500])).sample
    assert out.shape == (2, 6 if learned else 3, 32, 32)


def test_config_round_trip_and_validation():
    cfg = preset("small", learned_variance=True)
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(DissError, match="unknown keys"):
        ModelConfig.from_json({**cfg.to_json(), "evil": 1})
    with pytest.raises(DissError, match="invalid model config"):
        ModelConfig.from_json({"preset": "x"})
    with pytest.raises(DissError, match="unknown preset 'huge'"):
        preset("huge")
    with pytest.raises(DissError, match="divisible by 8"):
        build_unet(PRESETS["small"], 36)
