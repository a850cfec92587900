import copy

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from diss.diffusion import make_scheduler
from diss.guidance import two_condition_guidance
from diss.model import build_unet, preset
from diss.sampling import sample


def ddpm_run(unet, seeds, learned=False, steps=4):
    scheduler = make_scheduler("linear", learned_variance=learned)
    noise = torch.cat([torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(s)) for s in seeds])
    noise = noise.to(unet.dtype)  # a float64 U-Net (the batch tests) samples in float64
    gens = [torch.Generator().manual_seed(1000 + s) for s in seeds]
    sketch = torch.ones(len(seeds), 1, 16, 16)
    with torch.no_grad():
        return sample(two_condition_guidance(unet, sketch, None, 1.5, 0.0), scheduler, noise, steps, generator=gens)


def test_same_seed_same_output_and_per_sample_independence():
    torch.manual_seed(0)
    unet = build_unet(preset("tiny"), 16).eval()
    a, b = ddpm_run(unet, [3, 4]), ddpm_run(unet, [3, 4])
    assert torch.equal(a, b)
    # DDPM draws fresh noise each step, from each sample's generator. Compared in float64: in fp32 the batch size picks
    # the convolution kernel, and a batch of 2 and one of 1 differ by up to ~1e-5 on some x86 kernel paths (AVX2)
    double = copy.deepcopy(unet).double()
    assert torch.allclose(ddpm_run(double, [3, 4])[1:], ddpm_run(double, [4]), atol=1e-5)
    assert torch.allclose(a[1:], ddpm_run(unet, [4]), atol=1e-3)  # fp32: 1/8 of a grey level
    assert not torch.allclose(a[0], a[1])
    assert a.min() >= -1 and a.max() <= 1


def test_learned_variance_is_read_by_ddpm():
    torch.manual_seed(0)
    unet = build_unet(preset("tiny", learned_variance=True), 16).eval()
    out = ddpm_run(unet, [0], learned=True)
    assert out.shape == (1, 3, 16, 16) and torch.isfinite(out).all()


def test_an_oracle_denoiser_recovers_the_image_with_every_sampler():
    """If ε is exact for a known x₀, every sampler must land on x₀: checks the loop and the scheduler set-up."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    base = make_scheduler("linear")
    x0 = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    alphas = base.alphas_cumprod

    def oracle(x, t):
        a = alphas[t.long()].reshape(-1, 1, 1, 1)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    for scheduler in (
        base,
        DDIMScheduler.from_config(base.config),
        DPMSolverMultistepScheduler.from_config(base.config, algorithm_type="dpmsolver++"),
        DPMSolverMultistepScheduler.from_config(base.config, algorithm_type="sde-dpmsolver++"),
    ):
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
        out = sample(oracle, scheduler, noise, 20, generator=torch.Generator().manual_seed(2))
        assert (out - x0).abs().max() < 0.05, (type(scheduler).__name__, scheduler.config.get("algorithm_type"))


class _HostWaits(TorchDispatchMode):
    """Counts the host→device copies that wait for the device (all but non_blocking ones). The device is ``meta``, a
    stand-in for a GPU that has no data: reading a value back from it (item, bool, nonzero) raises outright."""

    def __init__(self):
        super().__init__()
        self.waits = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._to_copy.default:
            src, dst, non_blocking = args[0], kwargs.get("device"), kwargs.get("non_blocking", False)
        elif func is torch.ops.aten.copy_.default:
            src, dst, non_blocking = args[1], args[0].device, args[2] if len(args) > 2 else False
        else:
            return func(*args, **kwargs)
        if src.device.type == "cpu" and dst is not None and torch.device(dst).type == "meta":
            self.waits += not non_blocking  # host scalars used as operands are no copies: they travel as arguments
        return func(*args, **kwargs)


def _device_run(scheduler, steps: int, realism_mode: str, sdedit: bool) -> int:
    from diss.editing import x0_mask_denoiser
    from diss.realism import combined_reference, lowpass_hook, lowpass_matrix, x0_lowpass_denoiser

    lowpass_matrix.cache_clear()  # its one copy per device is counted in every run alike
    torch.manual_seed(0)
    unet = build_unet(preset("tiny"), 16).eval().to("meta")
    sketch, stroke = torch.ones(2, 1, 16, 16, device="meta"), torch.zeros(2, 3, 16, 16, device="meta")
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    denoiser = two_condition_guidance(unet, sketch, stroke, 1.5, torch.tensor([1.0, 2.0]))  # per-sample scales
    mask = torch.zeros(2, 1, 16, 16, device="meta")
    denoiser, composite = x0_mask_denoiser(denoiser, stroke, mask, scheduler)
    hooks = [composite]
    reference = combined_reference(sketch, stroke)
    if realism_mode == "x0":
        denoiser = x0_lowpass_denoiser(denoiser, reference, scheduler, 2)
    else:
        hooks.append(lowpass_hook(reference, scheduler, 2, gens))
    with _HostWaits() as counter, torch.no_grad():
        init = dict(init=torch.zeros(2, 3, 16, 16, device="meta"), strength=0.5) if sdedit else {}
        out = sample(denoiser, scheduler, torch.randn(2, 3, 16, 16).to("meta"), steps, gens, hooks, **init)
    assert out.shape == (2, 3, 16, 16) and out.device.type == "meta"
    return counter.waits


@pytest.mark.parametrize(
    "algorithm", ["ddim", *(pytest.param(a, marks=pytest.mark.slow) for a in ("dpmsolver++", "sde-dpmsolver++"))]
)
@pytest.mark.parametrize("realism_mode", ["lowpass", "x0"])
@pytest.mark.parametrize("sdedit", [False, True])
def test_the_step_loop_never_waits_on_the_device(algorithm, realism_mode, sdedit):
    """No per-step host sync: no value read back from the device (it would raise on meta), and the blocking copies
    to it (the schedule, a scale table) are made once, so their count does not grow with the number of steps."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    base = make_scheduler("linear")

    def scheduler():
        if algorithm == "ddim":
            return DDIMScheduler.from_config(base.config)
        return DPMSolverMultistepScheduler.from_config(base.config, algorithm_type=algorithm)

    few, many = _device_run(scheduler(), 4, realism_mode, sdedit), _device_run(scheduler(), 12, realism_mode, sdedit)
    assert few == many, f"{many - few} more blocking copies over 8 more steps"


def test_ddpm_ignores_a_solver_setting_left_in_its_config():
    """diffusers keeps other schedulers' settings in a config: DDPM made from a config that names an SDE solver must
    still sample as DDPM (and not be handed the solver's variance_noise)."""
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

    solver = DPMSolverMultistepScheduler.from_config(make_scheduler("linear").config, algorithm_type="sde-dpmsolver++")
    ddpm = DDPMScheduler.from_config(solver.config)
    assert ddpm.config.algorithm_type == "sde-dpmsolver++"  # the situation under test
    torch.manual_seed(0)
    unet = build_unet(preset("tiny"), 16).eval()
    noise = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = sample(two_condition_guidance(unet, None, None, 0.0, 0.0), ddpm, noise, 3, torch.Generator())
    assert out.shape == (1, 3, 16, 16) and torch.isfinite(out).all()
