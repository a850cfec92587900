"""Noise schedule, q_sample and the training losses (L_simple, and L_vlb for a learned variance); no sampling loop."""

from __future__ import annotations

import math

import torch
from diffusers import DDPMScheduler

from diss import defaults
from diss.errors import DissError

#: the schedules a user may pick, by our name → diffusers' name
BETA_SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


#: x̂₀ clipped to [-1, 1] by every scheduler made from a diss config: DDPM and DDIM read ``clip_sample``, DPM-Solver
#: does not, but all three read thresholding, which at ratio 1.0 and max 1.0 is that clip bit for bit (Imagen's
#: dynamic thresholding with s = 1). Unclipped, DPM-Solver++ got worse with more steps at the defaults: FID (N = 100)
#: 120.6 / 125.4 / 130.4 at 10 / 20 / 30 steps; clipped 117.2 / 115.8 / … (BENCHMARKS.md)
X0_CLIP = {"clip_sample": True, "thresholding": True, "dynamic_thresholding_ratio": 1.0, "sample_max_value": 1.0}


def make_scheduler(
    beta_schedule: str = "linear", learned_variance: bool = False, num_train_timesteps: int = defaults.TIMESTEPS
) -> DDPMScheduler:
    """The training scheduler (its config is every sampler's): ε-prediction, x̂₀ clipped to [-1, 1] (``X0_CLIP``)."""
    if beta_schedule not in BETA_SCHEDULES:
        raise DissError(f"unknown noise schedule {beta_schedule!r}; choose one of {', '.join(BETA_SCHEDULES)}")
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=BETA_SCHEDULES[beta_schedule],
        variance_type="learned_range" if learned_variance else "fixed_small",
        prediction_type="epsilon",
        **X0_CLIP,
    )


def q_sample(scheduler: DDPMScheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(ᾱ_t) x₀ + sqrt(1 − ᾱ_t) ε (DDPM eq. 4)."""
    return scheduler.add_noise(x0, noise, t)


def q_sample_at(alphas_cumprod: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
    """q_sample with one timestep ``t`` for the whole batch (the sampler's hooks), from a host copy of ᾱ: the
    coefficients are host numbers, so nothing is looked up on the device or waited for. Rounded as DDPM's and DDIM's
    ``add_noise`` round them (fp32), so seeds repeat bit for bit with those samplers."""
    alpha_bar = alphas_cumprod[t]  # a host fp32 scalar
    return alpha_bar**0.5 * x0 + (1.0 - alpha_bar) ** 0.5 * noise


def _extract(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """values[t] shaped (B, 1, 1, 1) for broadcasting over images."""
    return values.to(t.device)[t].float().reshape(-1, *([1] * (ndim - 1)))


def _normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _approx_std_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _discretized_gaussian_log_likelihood(x, means, log_scales):
    """log p(x) of 8-bit data in [-1, 1] under a Gaussian discretised to bins of width 2/255 (DDPM decoder)."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = _approx_std_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = _approx_std_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    return torch.where(
        x < -0.999,
        log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, torch.log(cdf_delta.clamp(min=1e-12))),
    )


def vlb_terms(
    scheduler: DDPMScheduler, eps: torch.Tensor, v: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """L_t of the variational bound in bits per dim, per sample (iDDPM eq. 10–13; v interpolates log β̃_t and log β_t).

    ``eps`` should be detached, so that L_vlb trains only the variance, as in the hybrid loss of iDDPM.
    """
    ac = scheduler.alphas_cumprod.to(x0.device)
    ac_prev = torch.cat([torch.ones(1, device=ac.device), ac[:-1]])
    betas = scheduler.betas.to(x0.device)
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    post_log_var = torch.log(torch.cat([post_var[1:2], post_var[1:]]))  # clipped at t = 0, as in iDDPM
    coef1 = betas * torch.sqrt(ac_prev) / (1.0 - ac)
    coef2 = (1.0 - ac_prev) * torch.sqrt(1.0 - betas) / (1.0 - ac)
    n = x0.ndim
    true_mean = _extract(coef1, t, n) * x0 + _extract(coef2, t, n) * x_t
    true_log_var = _extract(post_log_var, t, n)
    pred_x0 = (x_t - _extract(torch.sqrt(1.0 - ac), t, n) * eps) / _extract(torch.sqrt(ac), t, n)
    model_mean = _extract(coef1, t, n) * pred_x0 + _extract(coef2, t, n) * x_t
    frac = (v + 1.0) / 2.0
    model_log_var = frac * _extract(torch.log(betas), t, n) + (1.0 - frac) * true_log_var
    kl = _normal_kl(true_mean, true_log_var, model_mean, model_log_var).mean(dim=(1, 2, 3)) / math.log(2.0)
    nll = -_discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_var).mean(dim=(1, 2, 3))
    return torch.where(t == 0, nll / math.log(2.0), kl)


def training_loss(
    scheduler: DDPMScheduler,
    model_output: torch.Tensor,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    vlb_weight: float = 0.001,
) -> tuple[torch.Tensor, dict]:
    """L_simple = ‖ε − ε_θ‖² (DDPM eq. 14), plus λ·T·L_t (iDDPM's L_hybrid) when the output has 6 channels."""
    model_output = model_output.float()
    eps = model_output[:, :3]
    simple = ((eps - noise.float()) ** 2).mean(dim=(1, 2, 3))  # (B,)
    parts = {"l_simple": simple.mean().detach()}
    loss = simple
    if model_output.shape[1] == 6:
        vlb = vlb_terms(scheduler, eps.detach(), model_output[:, 3:], x0.float(), x_t.float(), t)
        parts["l_vlb"] = vlb.mean().detach()
        loss = loss + vlb_weight * scheduler.config.num_train_timesteps * vlb
    return loss.mean(), parts
