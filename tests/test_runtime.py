"""The runtime policy: the device, what the precision policy gives on it, and the backend "auto" picks."""

import pytest
import torch

from diss import runtime
from diss.errors import DissError
from diss.runtime import Runtime, cpu_supports_bf16


def test_a_onednn_isa_cap_without_bf16_switches_bf16_off(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 runs an AVX2 laptop's kernels here: bf16 autocast must not be chosen then."""
    try:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
        cpu_supports_bf16.cache_clear()
        assert not cpu_supports_bf16() and Runtime(torch.device("cpu")).autocast is None
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
        cpu_supports_bf16.cache_clear()
        native = cpu_supports_bf16()
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
        cpu_supports_bf16.cache_clear()
        assert cpu_supports_bf16() == native  # a cap that keeps bf16 changes nothing
    finally:
        cpu_supports_bf16.cache_clear()


def test_the_precision_policy_on_a_cpu(monkeypatch):
    cpu = torch.device("cpu")
    assert Runtime(cpu, "fp32").autocast is None and Runtime(cpu, "bf16").autocast == torch.bfloat16
    assert Runtime(cpu).autocast == (torch.bfloat16 if cpu_supports_bf16() else None)
    assert Runtime(cpu).sampling_weights_dtype == torch.float32  # a CPU keeps fp32 weights
    assert Runtime(cpu, "fp32").mixed_precision == "no"
    assert Runtime(cpu).mixed_precision == ("bf16" if cpu_supports_bf16() else "no")
    with pytest.raises(DissError, match="fp16 needs a GPU"):
        _ = Runtime(cpu, "fp16").mixed_precision
    with pytest.raises(DissError, match="precision must be"):
        _ = Runtime(cpu, "fp8").autocast


def test_the_device_follows_diss_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("DISS_DEVICE", raising=False)
    assert Runtime.detect().device.type == "cpu"
    monkeypatch.setenv("DISS_DEVICE", "cuda")
    with pytest.raises(DissError, match="no CUDA GPU"):
        Runtime.detect()
    monkeypatch.setenv("DISS_DEVICE", "tpu")
    with pytest.raises(DissError, match="cpu or cuda"):
        Runtime.detect()


def test_auto_picks_openvino_on_a_cpu_and_torch_on_a_gpu(monkeypatch):
    monkeypatch.delenv("DISS_BACKEND", raising=False)
    monkeypatch.setattr(runtime, "openvino_module", lambda: object())  # installed
    assert Runtime(torch.device("cpu")).backend() == "openvino"
    assert Runtime(torch.device("cuda")).backend() == "torch"
    assert Runtime(torch.device("cpu")).backend("torch") == "torch"
    monkeypatch.setenv("DISS_BACKEND", "torch")
    assert Runtime(torch.device("cpu")).backend() == "torch"
    monkeypatch.setenv("DISS_BACKEND", "tensorrt")
    with pytest.raises(DissError, match="DISS_BACKEND"):
        Runtime(torch.device("cpu")).backend()
    with pytest.raises(DissError, match="backend must be one of"):
        Runtime(torch.device("cpu")).backend("onnx")
    monkeypatch.delenv("DISS_BACKEND")
    monkeypatch.setattr(runtime, "openvino_module", lambda: None)  # not installed, or fails to import
    assert Runtime(torch.device("cpu")).backend() == "torch"
    assert Runtime(torch.device("cpu")).backend("openvino") == "openvino"  # asked by name: backend.select refuses it
