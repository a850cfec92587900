"""Every file and folder diss writes goes through ``outputs.replacing``: the finished thing appears whole, or the old
one stays; a failed write leaves no temporary; what a killed run left is found and removed."""

import numpy as np
import pytest

from diss.outputs import TEMPORARY_GLOB, remove_stale, replacing, save_npy, temporary_name, write_json


def test_a_file_is_replaced_whole_and_a_failed_write_keeps_the_old_one(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "v": 1\n}' and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_folder_replaces_a_folder_and_a_failed_one_leaves_the_old_in_place(tmp_path):
    target = tmp_path / "step-00000002"
    for n in (1, 2):
        with replacing(target) as tmp:
            tmp.mkdir()
            (tmp / "state.json").write_text(str(n))
    assert (target / "state.json").read_text() == "2"
    with pytest.raises(OSError), replacing(target) as tmp:
        tmp.mkdir()
        raise OSError("disk full")
    assert (target / "state.json").read_text() == "2" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_save_npy_takes_any_name_and_leaves_nothing_beside_it(tmp_path):
    save_npy(tmp_path / "samples", np.arange(3, dtype=np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["samples"]
    assert np.load(tmp_path / "samples").tolist() == [0, 1, 2]


def test_what_a_killed_run_left_is_removed_and_nothing_else(tmp_path):
    left = temporary_name(tmp_path / "step-00000004")  # this version's
    left.mkdir()
    (tmp_path / ".tmp-step-00000004-123").mkdir()  # an older diss's name for the same
    (tmp_path / ".notes.tmpl").write_text("a user's file")
    (tmp_path / "step-00000002").mkdir()
    assert len(list(tmp_path.glob(TEMPORARY_GLOB))) == 1
    remove_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmpl", "step-00000002"]
