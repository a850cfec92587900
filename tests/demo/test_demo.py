"""diss demo on the shipped models, with 2 sampling steps (the grids' layout, not their quality)."""

import json
import shutil

import pytest
from PIL import Image

from diss.cli import main
from diss.demo.run import background_edit
from diss.domains import DOMAINS
from diss.folder import load_example, resolve_model

NAMES = ["realism_sweep.png", "scales_grid.png", "local_editing.png", "examples.png"]


@pytest.mark.slow
def test_demo_writes_four_grids_per_shipped_domain_and_prints_their_paths(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "demo"), "--steps", "2", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(DOMAINS)
    for domain in DOMAINS:
        side = 256 if (resolve_model(domain) / "upsampler").is_dir() else 64  # a cascade's images, or the base's
        for name in NAMES:
            path = tmp_path / "demo" / domain / name
            assert f"{domain}/{name.split('_')[0].replace('.png', '')}" in out and str(path) in out
            w, h = Image.open(path).size
            assert w > 4 * side and h > side  # each image at full size
        rows = Image.open(tmp_path / "demo" / domain / "examples.png").size[1] // side
        assert rows >= len(DOMAINS[domain].examples)  # one row per example drawing of that domain
        # no temp files left
        assert sorted(p.name for p in (tmp_path / "demo" / domain).iterdir()) == sorted(NAMES)


def test_demo_of_a_model_folder_uses_the_examples_of_the_domain_it_names(tiny_model, tmp_path, capsys):
    heights = {}
    for domain in ("landscapes", None):
        folder = tmp_path / f"mine-{domain}"
        shutil.copytree(tiny_model, folder)
        meta = json.loads((tiny_model / "diss.json").read_text())
        (folder / "diss.json").write_text(json.dumps({**meta, "domain": domain} if domain else meta))
        out = tmp_path / f"demo-{domain}"
        code = main(["demo", "--model", str(folder), "--out", str(out), "--steps", "1", "--quiet"])
        assert code == 0, capsys.readouterr().err
        assert [p.name for p in out.iterdir()] == [folder.name]
        heights[domain] = Image.open(out / folder.name / "examples.png").size[1]
    # a row per example: 5 landscapes, and the default domain's 4 flowers for a folder that names none
    assert len(DOMAINS["landscapes"].examples) > len(DOMAINS["flowers"].examples)
    assert heights["landscapes"] > heights[None]


def test_demo_bad_output_folder_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "missing" / "deeper"):
        code = main(["demo", "--out", str(out), "--steps", "1", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "error" in err


def test_the_edit_mask_keeps_the_flower():
    _, stroke = load_example("daisy")
    mask, new_stroke = background_edit(stroke, 64)
    assert mask[32, 32] == 0 and mask[0, 0] == 255  # the centre is kept, the corners are regenerated
    h, w = stroke.shape[:2]
    assert (new_stroke[h // 2, w // 2] == stroke[h // 2, w // 2]).all()


def test_without_steps_the_demo_and_generate_take_the_model_folders_own(tiny_model, tmp_path, capsys, monkeypatch):
    """A folder whose diss.json sets "defaults": {"steps": 2} (diss export --steps 2) is sampled with 2 steps by the
    demo and by diss generate unless --steps is given."""
    import numpy as np

    import diss.pipeline

    folder = tmp_path / "own"
    shutil.copytree(tiny_model, folder)
    meta = json.loads((tiny_model / "diss.json").read_text())
    (folder / "diss.json").write_text(json.dumps({**meta, "defaults": {"steps": 2}}))
    taken, sample = [], diss.pipeline.sample
    monkeypatch.setattr(
        diss.pipeline, "sample", lambda d, s, x, n, *a, **k: taken.append(n) or sample(d, s, x, n, *a, **k)
    )
    assert main(["demo", "--model", str(folder), "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    assert len(taken) > 4 and set(taken) == {2}
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "s.png")
    for extra, steps in (([], 2), (["--steps", "3"], 3)):
        taken.clear()
        argv = [
            "generate",
            "--model",
            str(folder),
            "--sketch",
            str(tmp_path / "s.png"),
            "--out",
            str(tmp_path / "o.png"),
        ]
        assert main([*argv, "--quiet", *extra]) == 0, capsys.readouterr().err
        assert taken == [steps]
