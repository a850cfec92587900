"""Training checkpoints without pickle: safetensors for every tensor, JSON for everything else; atomic; pruned.

A checkpoint folder ``RUN/checkpoints/step-00001000/`` holds ``model.safetensors`` (the raw weights),
``ema.safetensors`` (the EMA weights), ``optimizer.safetensors`` (AdamW moments, flattened) and ``state.json``
(step, images seen, optimizer hyper-parameters, EMA counters). It is written to a hidden temporary folder and renamed
into place only when every file is complete, so a kill or a full disk never leaves a broken checkpoint that looks
complete; the newest complete one that loads is the one resumed from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from diss.errors import DissError
from diss.outputs import remove_stale, replacing

FORMAT = "diss-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step-(\d{8})$")


@dataclass
class Checkpoint:
    """What a checkpoint holds, in memory."""

    step: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    optimizer: dict  # torch optimizer state_dict
    state: dict  # JSON-able extras: images seen, EMA counters, config digest...


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for idx, per_param in state_dict["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for flat, value in [*tensors.items(), *meta.get("scalars", {}).items()]:
        idx, key = flat.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def _fsync(path: Path) -> None:
    """Flush a file or a folder entry to disk (folders cannot be opened for syncing on some systems: skipped)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(run: str | os.PathLike, ckpt: Checkpoint, keep: int = 3) -> Path:
    """Write ``ckpt`` atomically under ``run/checkpoints`` and delete all but the newest ``keep``."""
    folder = Path(run) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{ckpt.step:08d}"
    try:
        with replacing(final) as tmp:
            tmp.mkdir()
            opt_tensors, opt_meta = _flatten_optimizer(ckpt.optimizer)
            for name, tensors in (("model", _cpu(ckpt.model)), ("ema", _cpu(ckpt.ema)), ("optimizer", opt_tensors)):
                save_file(tensors, tmp / f"{name}.safetensors")
                _fsync(tmp / f"{name}.safetensors")  # on disk before state.json says the checkpoint is complete
            state = {"format": FORMAT, "version": VERSION, "step": ckpt.step, "optimizer": opt_meta, **ckpt.state}
            with open(tmp / "state.json", "w", encoding="utf-8") as f:  # written last: its presence marks completeness
                json.dump(state, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
        _fsync(folder)  # the rename itself survives a crash
    except OSError as e:
        raise DissError(
            f"could not save the checkpoint of step {ckpt.step} in {folder} ({e.strerror or e}); "
            "the previous checkpoints are intact; free some disk space and resume"
        ) from None
    for old in list_checkpoints(run)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    remove_stale(folder)
    return final


def list_checkpoints(run: str | os.PathLike) -> list[Path]:
    """Complete-looking checkpoint folders (state.json present), oldest first."""
    folder = Path(run) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read one checkpoint folder; DissError if any part is missing, damaged or not ours."""
    path = Path(path)
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("version") != VERSION:
            raise ValueError("not a diss checkpoint")
        model = load_file(path / "model.safetensors")
        ema = load_file(path / "ema.safetensors")
        optimizer = _unflatten_optimizer(load_file(path / "optimizer.safetensors"), state.pop("optimizer"))
        step = int(state.pop("step"))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError, json.JSONDecodeError) as e:
        raise DissError(f"checkpoint {path} is damaged or foreign ({e})") from None
    return Checkpoint(step=step, model=model, ema=ema, optimizer=optimizer, state=state)


def load_newest(run: str | os.PathLike, warn=print) -> Checkpoint | None:
    """The newest checkpoint of ``run`` that loads; damaged newer ones are reported through ``warn`` and passed over."""
    for path in reversed(list_checkpoints(run)):
        try:
            return load_checkpoint(path)
        except DissError as e:
            warn(f"warning: {e}; trying an older one")
    return None
