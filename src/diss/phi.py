"""Φ, the "condition absent" image of classifier-free guidance (DiSS eq. 7), decided here once for training and
sampling alike: a uniform mid-gray, 0.0 in model range (127.5 in uint8 terms).

It differs from the white "no stroke here" canvas (``diss.conventions``) on purpose: an empty canvas with strokes on
part of it says "free here", Φ says "this condition is not given at all". Two-stage training puts Φ in place of a
condition with probability 0.3 (``diss.two_stage``); guidance asks the model for ε(Φ, Φ), ε(sketch, Φ) and
ε(Φ, strokes) (``diss.guidance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where tensors are made
    import torch

#: value every pixel of Φ takes, in model range [-1, 1]
PHI_VALUE: float = 0.0


def phi_like(condition: torch.Tensor) -> torch.Tensor:
    """The Φ image with the shape, dtype and device of ``condition``."""
    import torch

    return torch.full_like(condition, PHI_VALUE)
