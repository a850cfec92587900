"""Local editing with a mask (white = regenerate): the noised known image is blended in after every step."""

from __future__ import annotations

import torch

from diss.diffusion import q_sample_at, sample_noise


def mask_blend_hook(image: torch.Tensor, mask: torch.Tensor, scheduler, generator=None):
    """x_{t−1} ← m·x_{t−1} + (1 − m)·q(image, t−1); ``image`` (B, 3, H, W) in [-1, 1], ``mask`` (B, 1, H, W) in {0, 1}.

    After the last step (t−1 = −1) the known region is the input image itself, so outside the mask the output equals
    the input exactly.
    """
    alphas = scheduler.alphas_cumprod.cpu()  # ᾱ on the host, taken once

    def hook(x: torch.Tensor, t_prev: int, i: int) -> torch.Tensor:
        m = mask.to(x)
        if t_prev < 0:
            known = image.to(x)
        else:
            known = q_sample_at(alphas, image.to(x), sample_noise(x, generator), t_prev)
        return m * x + (1.0 - m) * known

    return hook
