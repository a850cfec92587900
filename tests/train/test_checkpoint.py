import json

import pytest
import torch

from diss.errors import DissError
from diss.outputs import TEMPORARY_GLOB
from diss.train.checkpoint import Checkpoint, list_checkpoints, load_checkpoint, load_newest, save_checkpoint


def make(step):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return Checkpoint(step=step, model=weights, ema=weights, optimizer=opt.state_dict(), state={"images_seen": step})


def test_round_trip_and_pruning(tmp_path):
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, make(step), keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000030", "step-00000040"]
    ckpt = load_newest(tmp_path)
    assert ckpt.step == 40 and ckpt.state["images_seen"] == 40
    opt = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    opt.load_state_dict(ckpt.optimizer)  # the flattened optimizer state is a valid state_dict
    assert opt.state_dict()["state"][0]["exp_avg"].shape == (2, 3)
    assert not list((tmp_path / "checkpoints").glob(TEMPORARY_GLOB))


def test_half_written_and_damaged_checkpoints_are_never_taken(tmp_path):
    save_checkpoint(tmp_path, make(10))
    save_checkpoint(tmp_path, make(20))
    (tmp_path / "checkpoints" / ".tmp-step-00000030-1").mkdir()  # a save killed half-way
    (tmp_path / "checkpoints" / "step-00000025").mkdir()  # a folder without state.json
    newest = tmp_path / "checkpoints" / "step-00000020"
    data = (newest / "model.safetensors").read_bytes()
    (newest / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated after the fact
    warnings = []
    ckpt = load_newest(tmp_path, warn=warnings.append)
    assert ckpt.step == 10 and "damaged" in warnings[0]
    with pytest.raises(DissError, match="damaged or foreign"):
        load_checkpoint(newest)


def test_foreign_state_is_refused(tmp_path):
    path = save_checkpoint(tmp_path, make(5))
    (path / "state.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DissError, match="damaged or foreign"):
        load_checkpoint(path)


def test_disk_full_during_a_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, make(10))
    import diss.train.checkpoint as mod

    real = mod.save_file

    def full(tensors, path, *a, **k):
        if str(path).endswith("optimizer.safetensors"):
            raise OSError(28, "No space left on device")
        return real(tensors, path, *a, **k)

    monkeypatch.setattr(mod, "save_file", full)
    with pytest.raises(DissError, match="No space left on device.*previous checkpoints are intact"):
        save_checkpoint(tmp_path, make(20))
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000010"]
    assert not list((tmp_path / "checkpoints").glob(TEMPORARY_GLOB))
    assert load_newest(tmp_path).step == 10
