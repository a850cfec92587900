"""The runtime policy: where and in what precision diss computes (sampling: pipeline, demo, app, evaluate; and
training), on which backend the U-Net samples, and how sampling noise is seeded.

- Device: ``DISS_DEVICE`` (cpu or cuda) when set, else a CUDA GPU where PyTorch sees one, else the CPU.
- Precision policy "auto" | "fp32" | "bf16" (and "fp16" for training on a GPU): "auto" is bf16 where the hardware has
  bf16 units (a CUDA GPU with bf16; a CPU with AMX or AVX512-BF16), fp32 elsewhere — the usual laptop's AVX2 CPU runs
  fp32, where bf16 autocast is slow. For sampling, a bf16 GPU holds the U-Net's weights in bf16 (1.2× faster than
  autocast on an H100, half the memory); a CPU keeps fp32 weights and autocasts (or the backend runs bf16).
- Inference backend: ``Runtime.backend`` — "auto" is OpenVINO on a CPU where it imports, PyTorch elsewhere
  (``DISS_BACKEND`` overrides "auto"); ``diss.backend`` sets up what it names.
- Noise and seeds: ``randn`` and ``seeded`` (one generator per image, drawn on the host), the only place diss draws
  sampling noise.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from diss.defaults import BACKENDS
from diss.errors import DissError

PRECISIONS = ("auto", "fp32", "bf16")  # sampling; training also takes "fp16" on a GPU
DEVICES = ("cpu", "cuda")


@functools.cache
def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 matrix units (AMX or AVX512-BF16), where bf16 autocast pays off, and oneDNN
    (PyTorch's and OpenVINO's CPU kernels) may use them: ``ONEDNN_MAX_CPU_ISA=AVX2`` runs an AVX2 laptop's kernels,
    without bf16 units, on any x86 CPU, and so also switches bf16 off here."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap and cap != "ALL" and "BF16" not in cap and "AMX" not in cap and "AVX10" not in cap:
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def openvino_module():
    """The openvino module, or None where it is not installed (or fails to import)."""
    try:
        import openvino
    except Exception:  # noqa: BLE001 — a broken install is "not available", never a crash
        return None
    return openvino


def forced_backend() -> str | None:
    """The backend ``DISS_BACKEND`` names for "auto" (torch or openvino), checked; None where it is unset or auto."""
    forced = os.environ.get("DISS_BACKEND", "").strip().lower()
    if forced and forced not in BACKENDS:
        raise DissError(f"DISS_BACKEND must be one of {', '.join(BACKENDS)}, not {forced!r}; unset it for auto")
    return None if forced in ("", "auto") else forced


@dataclass(frozen=True)
class Runtime:
    """A device and a precision policy, and what follows from them (``Runtime.detect()`` picks the device)."""

    device: torch.device
    precision: str = "auto"

    @classmethod
    def detect(cls, precision: str = "auto") -> Runtime:
        """The device of the module docstring, with ``precision``; one clear error for a DISS_DEVICE that cannot be."""
        wanted = os.environ.get("DISS_DEVICE", "").strip().lower() or ("cuda" if torch.cuda.is_available() else "cpu")
        if wanted not in DEVICES:
            raise DissError(f"DISS_DEVICE must be cpu or cuda, not {wanted!r}")
        if wanted == "cuda" and not torch.cuda.is_available():
            raise DissError("DISS_DEVICE=cuda, but PyTorch sees no CUDA GPU here; unset it to run on the CPU")
        return cls(torch.device(wanted), precision)

    @property
    def bf16_units(self) -> bool:
        """Whether this device computes bf16 natively (where "auto" chooses it)."""
        if self.device.type == "cuda":
            return torch.cuda.is_bf16_supported()
        return self.device.type == "cpu" and cpu_supports_bf16()

    @property
    def autocast(self) -> torch.dtype | None:
        """The autocast dtype for sampling with the U-Net: bf16 where "auto" finds bf16 units (or "bf16", honoured even
        where it is slow), None for fp32."""
        if self.precision not in PRECISIONS:
            raise DissError(f"precision must be auto, fp32 or bf16, not {self.precision!r}")
        if self.precision == "auto":
            return torch.bfloat16 if self.bf16_units else None
        return torch.bfloat16 if self.precision == "bf16" else None

    @property
    def sampling_weights_dtype(self) -> torch.dtype:
        """The U-Net's weights for sampling: bf16 on a bf16 GPU, fp32 elsewhere."""
        return torch.bfloat16 if self.device.type == "cuda" and self.bf16_units else torch.float32

    @property
    def mixed_precision(self) -> str:
        """accelerate's ``mixed_precision`` for training: "no", "bf16" or "fp16" (fp16 only on a GPU)."""
        if self.precision == "fp32":
            return "no"
        if self.precision == "fp16" and self.device.type != "cuda":
            raise DissError("--precision fp16 needs a GPU; on a CPU use bf16 (where supported) or fp32")
        if self.precision != "auto":
            return self.precision
        if self.device.type == "cuda":
            return "bf16" if self.bf16_units else "fp16"
        return "bf16" if self.bf16_units else "no"

    def backend(self, requested: str = "auto") -> str:
        """The U-Net's inference backend to try for ``requested`` here: "auto" is OpenVINO on a CPU where it imports
        (as fast as PyTorch on an idle AVX-512 machine, 2.3× faster on a busy one, faster in bf16: BENCHMARKS.md),
        PyTorch elsewhere; ``DISS_BACKEND=torch`` (or ``openvino``) overrides what "auto" would pick."""
        if requested not in BACKENDS:
            raise DissError(f"backend must be one of {', '.join(BACKENDS)}, not {requested!r}")
        if requested != "auto":
            return requested
        if forced := forced_backend():
            return forced
        return "openvino" if self.device.type == "cpu" and openvino_module() is not None else "torch"


def seeded(seeds) -> list[torch.Generator]:
    """One CPU generator per image, seeded with each of ``seeds`` (seed, seed + 1, … by convention): image i's noise
    then depends on its own seed only, whatever batch it is made in (``randn``)."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def randn(shape, generator=None, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """Gaussian noise of ``shape`` (B, ...) on ``device``: the one place diss draws sampling noise (the starting noise,
    the realism reference's, an edit's). With a list of generators, sample i draws from generator i only, so sample i
    of a batch is the same sample alone.

    Drawn on the host (a seed gives the same numbers on every device), into pinned memory when ``device`` is a GPU,
    and sent without waiting for the device's queue to drain."""
    device = torch.device(device)
    # pinned memory on CUDA only; elsewhere (CPU, MPS) a plain copy, as non_blocking is safe only from pinned memory
    pinned = device.type == "cuda"
    noise = torch.empty(tuple(shape), pin_memory=pinned)  # (B, C, H, W) fp32 on the host
    if isinstance(generator, list):
        for g, row in zip(generator, noise, strict=True):
            torch.randn(row.shape, generator=g, out=row)
    else:
        torch.randn(noise.shape, generator=generator, out=noise)
    no_wait = pinned or device.type == "meta"  # meta holds no data (the tests' stand-in for a GPU)
    return noise.to(device, dtype, non_blocking=no_wait)


def sample_noise(like: torch.Tensor, generator=None) -> torch.Tensor:
    """``randn`` shaped like ``like``, on its device and in its dtype."""
    return randn(like.shape, generator, like.device, like.dtype)
