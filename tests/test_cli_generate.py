"""diss generate / diss edit on a tiny random model: files, folders, grids, and bad input."""

import numpy as np
import pytest
from PIL import Image

from diss.cli import main


@pytest.fixture
def model(tiny_model):
    return tiny_model


@pytest.fixture
def files(tmp_path):
    sk = np.full((40, 40), 255, np.uint8)
    sk[5:35, 20] = 0
    st = np.full((40, 40, 3), 255, np.uint8)
    st[:20] = (30, 160, 40)
    for folder in ("sk", "st"):
        (tmp_path / folder).mkdir()
    for name in ("a", "b"):
        Image.fromarray(sk).save(tmp_path / "sk" / f"{name}.png")
        Image.fromarray(st).save(tmp_path / "st" / f"{name}.png")
    Image.fromarray(sk).save(tmp_path / "sk" / "only_sketch.png")
    return tmp_path


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_one_image_and_a_grid(capsys, model, files):
    base = ["generate", "--model", model, "--steps", 2, "--quiet"]
    code, out, _ = cli(
        capsys, *base, "--sketch", files / "sk/a.png", "--stroke", files / "st/a.png", "--out", files / "one.png"
    )
    assert code == 0 and Image.open(files / "one.png").size == (32, 32)
    code, _, _ = cli(
        capsys, *base, "--sketch", files / "sk/a.png", "--num", 2, "--sweep", "realism=0,1", "--out", files / "grid.png"
    )
    grid = Image.open(files / "grid.png")
    assert code == 0 and grid.size[0] > 2 * 96 and grid.size[1] > 2 * 96


def test_generate_folders_matched_by_stem(capsys, model, files):
    code, out, err = cli(
        capsys,
        "generate",
        "--model",
        model,
        "--steps",
        2,
        "--quiet",
        "--sketch",
        files / "sk",
        "--stroke",
        files / "st",
        "--out",
        files / "out",
    )
    assert code == 0 and "wrote 2 image(s)" in out and "only_sketch" in err
    assert sorted(p.name for p in (files / "out").iterdir()) == ["a.png", "b.png"]


def test_batched_folders_equal_one_by_one_and_skip_bad_files(capsys, model, files):
    st = np.full((40, 40, 3), 255, np.uint8)
    st[20:] = (20, 20, 200)
    Image.fromarray(st).save(files / "st" / "b.png")  # b differs from a: the batch holds two different drawings
    (files / "sk" / "c.png").write_bytes(b"")
    (files / "st" / "c.png").write_bytes(b"")
    code, _, err = cli(
        capsys,
        "generate",
        "--model",
        model,
        "--steps",
        2,
        "--quiet",
        "--sketch",
        files / "sk",
        "--stroke",
        files / "st",
        "--sampler",
        "ddpm",
        "--realism",
        "0.5",
        "--out",
        files / "out",
    )
    assert code == 0 and "skipped c" in err
    for name in ("a", "b"):
        cli(
            capsys,
            "generate",
            "--model",
            model,
            "--steps",
            2,
            "--quiet",
            "--sketch",
            files / "sk" / f"{name}.png",
            "--stroke",
            files / "st" / f"{name}.png",
            "--sampler",
            "ddpm",
            "--realism",
            "0.5",
            "--out",
            files / f"{name}.png",
        )
        batched = np.asarray(Image.open(files / "out" / f"{name}.png")).astype(int)
        alone = np.asarray(Image.open(files / f"{name}.png")).astype(int)
        assert np.abs(batched - alone).max() <= 1
    assert not (files / "out" / "c.png").exists()


def test_edit_keeps_the_unmasked_part(capsys, model, files):
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)  # another size: resized
    mask[:, :32] = 200  # not binary: thresholded
    Image.fromarray(img).save(files / "img.png")
    Image.fromarray(mask).save(files / "mask.png")
    code, _, _ = cli(
        capsys,
        "edit",
        "--model",
        model,
        "--image",
        files / "img.png",
        "--mask",
        files / "mask.png",
        "--stroke",
        files / "st/a.png",
        "--steps",
        2,
        "--quiet",
        "--out",
        files / "edited.png",
    )
    out = np.asarray(Image.open(files / "edited.png"))
    assert code == 0 and (out[:, 16:] == img[:, 16:]).all() and not (out[:, :16] == img[:, :16]).all()


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--sketch", "{f}/missing.png"], "does not exist"),
        (["--sketch", "{f}/bad.png"], "empty file"),
        (["--sketch", "{f}/sk/a.png", "--model", "{f}"], "not a diss model folder"),
        (["--sketch", "{f}/sk/a.png", "--model", "{f}/nowhere"], "does not exist"),
        (["--sketch", "{f}/sk/a.png", "--out", "{f}/nowhere/x.png"], "does not exist"),
        (["--sketch", "{f}/sk", "--stroke", "{f}/st/a.png"], "not a mix"),
    ],
)
def test_bad_input_one_line_no_output(capsys, model, files, extra, fragment):
    (files / "bad.png").write_bytes(b"")
    argv = ["generate", "--model", model, "--steps", 2, "--quiet", "--out", files / "x.png"]
    argv += [a.replace("{f}", str(files)) for a in extra]
    code, _, err = cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and fragment in lines[0] and "Traceback" not in err, err
    assert not (files / "x.png").exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--sketch-scale", "nan"],
        ["--stroke-scale", "-1"],
        ["--realism", "1.5"],
        ["--steps", "0"],
        ["--sweep", "colour=1,2"],
    ],
)
def test_bad_values(capsys, model, files, extra):
    argv = ["generate", "--model", str(model), "--sketch", str(files / "sk/a.png"), "--out", str(files / "x.png")]
    try:
        code = main(argv + extra)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and not (files / "x.png").exists()


def test_default_model_missing_is_one_clear_line(capsys, files, monkeypatch):
    monkeypatch.setattr("diss.cli.SHIPPED_MODEL", files / "no-such-model")  # e.g. a checkout without pretrained/
    code, _, err = cli(capsys, "generate", "--sketch", files / "sk/a.png", "--out", files / "x.png")
    assert code != 0 and "pass --model" in err and len(err.strip().splitlines()) == 1
    assert not (files / "x.png").exists()


def test_compile_flag_compiles_the_unet_and_keeps_the_image(capsys, model, files, monkeypatch):
    from diss.pipeline import DiSSPipeline

    compiled, original = [], DiSSPipeline.compile

    def recording_compile(pipe, mode="default"):  # the graph runs as traced: none of inductor's minutes on a CPU
        compiled.append(mode)
        return original(pipe, mode, backend=lambda gm, example_inputs: gm.forward)

    monkeypatch.setattr(DiSSPipeline, "compile", recording_compile)
    base = ["generate", "--model", model, "--steps", 2, "--quiet", "--sketch", files / "sk/a.png"]
    assert cli(capsys, *base, "--out", files / "eager.png")[0] == 0 and not compiled
    assert cli(capsys, *base, "--compile", "--out", files / "compiled.png")[0] == 0 and compiled == ["default"]
    assert np.array_equal(np.asarray(Image.open(files / "eager.png")), np.asarray(Image.open(files / "compiled.png")))
