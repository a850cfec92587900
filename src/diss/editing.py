"""Local editing with a mask (white = regenerate): the noised known image is blended in after every step."""

from __future__ import annotations

import torch

from diss.diffusion import q_sample, sample_noise


def mask_blend_hook(image: torch.Tensor, mask: torch.Tensor, scheduler, generator=None):
    """x_{t−1} ← m·x_{t−1} + (1 − m)·q(image, t−1); ``image`` (B, 3, H, W) in [-1, 1], ``mask`` (B, 1, H, W) in {0, 1}.

    After the last step (t−1 = −1) the known region is the input image itself, so outside the mask the output equals
    the input exactly.
    """

    def hook(x: torch.Tensor, t_prev: torch.Tensor, i: int) -> torch.Tensor:
        t = int(t_prev.reshape(-1)[0])
        m = mask.to(x)
        if t < 0:
            known = image.to(x)
        else:
            ts = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            known = q_sample(scheduler, image.to(x), sample_noise(x, generator), ts)
        return m * x + (1.0 - m) * known

    return hook
