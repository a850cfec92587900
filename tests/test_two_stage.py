"""Two-stage training: Φ for each condition at the configured rate in stage 2, none in stage 1."""

import torch

from diss.phi import PHI_VALUE
from diss.train.config import TrainConfig
from diss.two_stage import drop_conditions, stage_at, training_conditions


def test_stage2_dropout_gives_phi_at_the_configured_rate():
    n = 20_000
    sketch, stroke = torch.full((n, 1, 2, 2), -1.0), torch.full((n, 3, 2, 2), 0.5)
    sk, st, drop = drop_conditions(sketch, stroke, 0.3, torch.Generator().manual_seed(0))
    rate = drop.float().mean(0)
    assert torch.allclose(rate, torch.tensor([0.3, 0.3]), atol=0.015)
    assert abs((drop[:, 0] & drop[:, 1]).float().mean().item() - 0.09) < 0.01  # independent
    assert (sk[drop[:, 0]] == PHI_VALUE).all() and (sk[~drop[:, 0]] == -1.0).all()
    assert (st[drop[:, 1]] == PHI_VALUE).all() and (st[~drop[:, 1]] == 0.5).all()
    assert TrainConfig(data="", out="", max_steps=100, stage="both", stage2_fraction=0.3).stage2_start() == 70
    assert TrainConfig(data="", out="", max_steps=100, stage="1").stage2_start() == 100
    assert TrainConfig(data="", out="", max_steps=100, stage="2").stage2_start() == 0


def test_stage_1_keeps_both_conditions_and_stage_2_starts_at_its_step():
    sketch, stroke = torch.full((64, 1, 2, 2), -1.0), torch.full((64, 3, 2, 2), 0.5)
    g = torch.Generator().manual_seed(0)
    assert stage_at(69, 70) == 1 and stage_at(70, 70) == 2
    sk, st = training_conditions(sketch, stroke, 69, 70, 1.0, g)
    assert sk is sketch and st is stroke
    sk, st = training_conditions(sketch, stroke, 70, 70, 1.0, g)
    assert (sk == PHI_VALUE).all() and (st == PHI_VALUE).all()
