"""The U-Net's inference backend: PyTorch (the reference and the fallback) or OpenVINO (CPUs).

OpenVINO converts the PyTorch module in-process (nothing is downloaded) into an IR that is cached on disk, keyed by the
SHA-256 of the weights in memory, the U-Net's config, OpenVINO's version and diss' own; the cache's files are checked
against the sums written with them before they are read, and a cache that is missing, damaged or from another version
is rebuilt. Whatever goes wrong with OpenVINO — not installed, a failed conversion or compilation, an error during a
step — is one line and PyTorch takes over (the same numbers up to float rounding), never a traceback or a wrong image.
Only asking for ``"openvino"`` by name where it is not installed is an error.

Which backend "auto" picks is the runtime policy's (``diss.runtime.Runtime.backend``): OpenVINO on a CPU where it is
installed, PyTorch elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.models.unets.unet_2d import UNet2DOutput

from diss import __version__, runtime
from diss.errors import DissError
from diss.folder import sha256_file  # the model folder's checksum, the same function
from diss.outputs import replacing
from diss.runtime import Runtime

log = logging.getLogger(__name__)

#: bump when the cached IR's layout or the conversion changes: older caches are then rebuilt
CACHE_FORMAT = 1
INSTALL_HINT = "pip install openvino"


def cache_root() -> Path:
    """Where converted models are kept: $DISS_CACHE_DIR, else $XDG_CACHE_HOME/diss, else ~/.cache/diss."""
    if os.environ.get("DISS_CACHE_DIR"):
        return Path(os.environ["DISS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "diss"


def openvino_version() -> str | None:
    ov = runtime.openvino_module()
    return None if ov is None else str(ov.get_version())


def weights_sha256(unet: torch.nn.Module) -> str:
    """SHA-256 of the module's weights as they are in memory (names, dtypes, shapes and bytes), so a cache follows
    the weights actually used, also after a fine-tune in a notebook."""
    digest = hashlib.sha256()
    for name, tensor in sorted(unet.state_dict().items()):
        t = tensor.detach().cpu()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        flat = t.reshape(-1).contiguous()  # logical order, whatever the memory layout
        digest.update(flat.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def cache_key(unet: torch.nn.Module) -> str:
    """The cache folder's name: weights, config, OpenVINO's version, diss' version and the cache format."""
    config = json.dumps(dict(unet.config), sort_keys=True, default=str)
    parts = [weights_sha256(unet), config, openvino_version() or "", __version__, str(CACHE_FORMAT)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


class _Wrapped(torch.nn.Module):
    """The traced signature: (x (B, 7, S, S), t (B,)) → ε (B, C, S, S)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep):
        return self.unet(sample, timestep).sample


def convert(unet: torch.nn.Module, folder: Path) -> None:
    """Convert ``unet`` to OpenVINO IR in ``folder`` (written under a temporary name, then renamed into place), with
    a manifest of the files' SHA-256 sums."""
    import warnings

    ov = runtime.openvino_module()
    size = unet.config.sample_size
    size = size if isinstance(size, int) else size[0]
    module = _Wrapped(unet).float().eval()
    example = (torch.zeros(1, unet.config.in_channels, size, size), torch.zeros(1, dtype=torch.long))
    argv = sys.argv
    try:
        sys.argv = argv[:1]  # OpenVINO's converter reads the command line: diss' own --verbose made it print a report
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about diffusers' shape checks
            model = ov.convert_model(
                module,
                example_input=example,
                input=[ov.PartialShape([-1, unet.config.in_channels, size, size]), ov.PartialShape([-1])],
                verbose=False,
            )
    finally:
        sys.argv = argv
    folder.parent.mkdir(parents=True, exist_ok=True)
    with replacing(folder) as tmp:
        tmp.mkdir()
        ov.save_model(model, tmp / "unet.xml", compress_to_fp16=False)  # exact: the weights as PyTorch has them
        sums = {name: sha256_file(tmp / name) for name in ("unet.xml", "unet.bin")}
        manifest = {"format": CACHE_FORMAT, "openvino": openvino_version(), "diss": __version__, "sha256": sums}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))


def cache_is_valid(folder: Path) -> bool:
    """Whether ``folder`` holds a complete IR of this format and version whose files match their recorded sums."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != CACHE_FORMAT or manifest.get("openvino") != openvino_version():
            return False
        sums = manifest["sha256"]
        return all(sha256_file(folder / name) == sums[name] for name in ("unet.xml", "unet.bin"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def precision_hint(precision: str = "auto") -> str:
    """OpenVINO's inference precision from diss' precision policy (``runtime.Runtime.autocast``): bf16 where PyTorch
    would autocast to bf16 on this CPU, else f32 (OpenVINO would otherwise pick bf16 by itself on bf16 CPUs)."""
    return "bf16" if Runtime(torch.device("cpu"), precision).autocast == torch.bfloat16 else "f32"


class OpenVINOUNet:
    """A compiled OpenVINO U-Net called like ``UNet2DModel``: ``net(sample, timestep).sample``. Should a step fail
    inside OpenVINO, it says so in one line and runs on ``fallback`` (the PyTorch U-Net) from then on."""

    dtype = torch.float32
    device = torch.device("cpu")

    def __init__(self, core, model, fallback: torch.nn.Module, precision: str, on_fallback=None, _shared=None):
        self.core, self.model = core, model
        self.fallback = fallback
        self.config = fallback.config
        self.precision = precision
        self.on_fallback = on_fallback
        self._shared = _shared if _shared is not None else {"compiled": {}, "failed": None, "lock": threading.Lock()}
        self._local = threading.local()  # one infer request per thread (the app samples from worker threads)
        self.compiled = self._compiled(precision)

    @property
    def failed(self) -> str | None:
        return self._shared["failed"]

    def _compiled(self, hint: str):
        with self._shared["lock"]:
            if hint not in self._shared["compiled"]:
                config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
                self._shared["compiled"][hint] = self.core.compile_model(self.model, "CPU", config)
            return self._shared["compiled"][hint]

    def with_precision(self, hint: str) -> OpenVINOUNet:
        """The same network compiled for ``hint`` ("f32" or "bf16"; compiled once, on first use)."""
        if hint == self.precision:
            return self
        return OpenVINOUNet(self.core, self.model, self.fallback, hint, self.on_fallback, self._shared)

    def _request(self):
        if not hasattr(self._local, "request"):
            self._local.request = self.compiled.create_infer_request()
        return self._local.request

    def __call__(self, sample: torch.Tensor, timestep) -> UNet2DOutput:
        if self.failed is None:
            try:
                x = sample.detach().float().contiguous().numpy()  # (B, 7, S, S)
                t = torch.as_tensor(timestep).reshape(-1).expand(sample.shape[0]).long().contiguous().numpy()  # (B,)
                out = self._request().infer({0: x, 1: t})[0]
                return UNet2DOutput(sample=torch.from_numpy(np.array(out, dtype=np.float32)))  # a copy: the request
            except Exception as e:  # noqa: BLE001 — any OpenVINO failure: PyTorch takes over    reuses its memory
                self._shared["failed"] = f"openvino failed during sampling ({_one_line(e)}); using torch"
                log.warning("diss: %s", self.failed)
                if self.on_fallback is not None:
                    self.on_fallback(self.failed)
        return self.fallback(sample.to(self.fallback.dtype), timestep)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def compile_openvino(unet: torch.nn.Module, precision: str = "auto", cache_dir: Path | None = None):
    """(OpenVINOUNet, what happened to the cache) for ``unet``: the IR from the cache when it is valid, else converted
    now, compiled for this CPU."""
    ov = runtime.openvino_module()
    folder = (Path(cache_dir) if cache_dir else cache_root()) / "openvino" / cache_key(unet)
    core = ov.Core()
    status = "cached"
    if not cache_is_valid(folder):
        status = "converted (cache damaged or stale: rebuilt)" if folder.exists() else "converted"
        convert(unet, folder)
    try:
        net = OpenVINOUNet(core, core.read_model(folder / "unet.xml"), unet, precision_hint(precision))
    except Exception:  # noqa: BLE001 — a cache that passed its sums but will not load: rebuilt once
        if status != "cached":
            raise
        convert(unet, folder)
        net = OpenVINOUNet(core, core.read_model(folder / "unet.xml"), unet, precision_hint(precision))
        status = "converted (cache would not load: rebuilt)"
    return net, status


@dataclass
class BackendChoice:
    name: str  # "torch" or "openvino": the one in use
    net: object  # what the guidance calls: the PyTorch U-Net or an OpenVINOUNet
    note: str  # one line: which backend and why
    fallback: bool  # True when the asked-for or chosen backend failed and PyTorch took over


def select(unet: torch.nn.Module, requested: str = "auto", precision: str = "auto", cache_dir=None) -> BackendChoice:
    """Set up ``requested`` for ``unet``; any failure of OpenVINO other than its absence falls back to PyTorch."""
    name = Runtime(unet.device).backend(requested)
    torch_note = f"backend: torch {torch.__version__.split('+')[0]} on {unet.device.type}"
    if name == "torch":
        why = ""
        if requested == "auto" and unet.device.type == "cpu":
            forced = runtime.forced_backend() == "torch"
            why = " (DISS_BACKEND=torch)" if forced else f" (openvino is not installed: {INSTALL_HINT} for faster CPUs)"
        return BackendChoice("torch", unet, torch_note + why, False)
    if runtime.openvino_module() is None:
        raise DissError(f"backend openvino: the openvino package is not installed; run `{INSTALL_HINT}`")
    if unet.device.type != "cpu":
        raise DissError(f"backend openvino runs on the CPU, but the U-Net is on {unet.device.type}; use torch there")
    try:
        net, status = compile_openvino(unet, precision, cache_dir)
    except Exception as e:  # noqa: BLE001 — one line, then PyTorch
        note = f"backend: torch (openvino failed to convert or compile: {_one_line(e)})"  # the caller says it
        return BackendChoice("torch", unet, note, True)
    hint = net.precision
    how = "auto's choice on a CPU" if requested == "auto" else "asked for"
    note = f"backend: openvino {openvino_version().split('-')[0]} ({hint}, {status}), {how}"
    return BackendChoice("openvino", net, note, False)
