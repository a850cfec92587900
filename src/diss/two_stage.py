"""Two-stage training (DiSS §3.2): stage 1 always gives both conditions; stage 2 fine-tunes with the sketch and the
strokes each replaced by Φ independently with probability ``p_uncond`` (0.3 in the paper), so that one network gives
the four terms of the two-dimensional classifier-free guidance (eq. 7): ε(sk, st), ε(sk, Φ), ε(Φ, st), ε(Φ, Φ).
Where stage 2 starts is ``TrainConfig.stage2_start()``; Φ is ``diss.phi``'s, the same in sampling."""

from __future__ import annotations

import torch

from diss.phi import phi_like


def stage_at(step: int, stage2_start: int) -> int:
    """The stage (1 or 2) that optimizer step ``step`` trains."""
    return 2 if step >= stage2_start else 1


def drop_conditions(sketch: torch.Tensor, stroke: torch.Tensor, p: float, generator: torch.Generator):
    """Replace each sample's sketch (B, 1, S, S) and strokes (B, 3, S, S) by Φ independently with probability ``p``;
    returns (sketch, stroke, dropped (B, 2) bool: [sketch, stroke])."""
    drop = torch.rand(sketch.shape[0], 2, generator=generator, device=generator.device) < p  # (B, 2)
    drop = drop.to(sketch.device)
    sketch = torch.where(drop[:, 0, None, None, None], phi_like(sketch), sketch)
    stroke = torch.where(drop[:, 1, None, None, None], phi_like(stroke), stroke)
    return sketch, stroke, drop


def training_conditions(sketch, stroke, step: int, stage2_start: int, p_uncond: float, generator: torch.Generator):
    """The conditions step ``step`` trains on: as given in stage 1, each dropped to Φ with ``p_uncond`` in stage 2."""
    if stage_at(step, stage2_start) == 1:
        return sketch, stroke
    sketch, stroke, _ = drop_conditions(sketch, stroke, p_uncond, generator)
    return sketch, stroke
