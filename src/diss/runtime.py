"""Where and in what precision diss computes, decided once for sampling (pipeline, demo, app, evaluate) and training.

- Device: ``DISS_DEVICE`` (cpu or cuda) when set, else a CUDA GPU where PyTorch sees one, else the CPU.
- Precision policy "auto" | "fp32" | "bf16" (and "fp16" for training on a GPU): "auto" is bf16 where the hardware has
  bf16 units (a CUDA GPU with bf16; a CPU with AMX or AVX512-BF16), fp32 elsewhere — the usual laptop's AVX2 CPU runs
  fp32, where bf16 autocast is slow. For sampling, a bf16 GPU holds the U-Net's weights in bf16 (1.2× faster than
  autocast on an H100, half the memory); a CPU keeps fp32 weights and autocasts (or the backend runs bf16).
- Noise and seeds: ``diffusion.randn`` and ``diffusion.seeded`` (one generator per image, drawn on the host).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

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
