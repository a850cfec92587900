"""The command line: real runs, and every bad input gives one clear line and a non-zero exit."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import bad_files
from diss.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_clear_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_prepare_with_preview(capsys, photo_dir, tmp_path):
    code, out, _ = run(
        capsys,
        "prepare",
        photo_dir,
        tmp_path / "cache",
        "--size",
        32,
        "--preview",
        tmp_path / "p.png",
        "--quiet",
        "--workers",
        1,
    )
    assert code == 0
    assert "5 images in the cache (5 new" in out
    grid = np.asarray(Image.open(tmp_path / "p.png"))
    assert grid.shape[0] > grid.shape[1]  # rows of photo | sketch | stroke
    code, out, _ = run(capsys, "prepare", photo_dir, tmp_path / "cache", "--size", 32, "--quiet")
    assert code == 0 and "0 new, 5 already there" in out


def test_prepare_reports_skipped_files_by_name(capsys, photo_dir, tmp_path, photos):
    for name, data in bad_files(photos["coffee"]).items():
        (photo_dir / name).write_bytes(data)
    code, out, err = run(capsys, "prepare", photo_dir, tmp_path / "c", "--size", 32, "--quiet", "--workers", 1)
    assert code == 0
    for name in bad_files(photos["coffee"]):
        assert f"skipped {name}:" in out + err
    assert "skipped 5:" in out


def test_extract_one_image_and_a_folder(capsys, photo_dir, tmp_path):
    code, _, _ = run(
        capsys,
        "extract",
        photo_dir / "coffee.jpg",
        "--sketch-out",
        tmp_path / "s.png",
        "--stroke-out",
        tmp_path / "c.png",
        "--size",
        40,
    )
    assert code == 0
    assert Image.open(tmp_path / "s.png").size == (40, 40) and Image.open(tmp_path / "s.png").mode == "L"
    assert Image.open(tmp_path / "c.png").mode == "RGB"
    (photo_dir / "broken.png").write_bytes(b"")
    code, out, err = run(capsys, "extract", photo_dir, "--sketch-out", tmp_path / "sk", "--size", 32, "--quiet")
    assert code == 0 and "extracted 5" in out and "broken.png" in err
    made = sorted(p.relative_to(tmp_path / "sk").as_posix() for p in (tmp_path / "sk").rglob("*.png"))
    assert made == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png", "sub/immunohistochemistry.png"]


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["prepare", "{tmp}/nowhere", "{tmp}/out"], "does not exist"),
        (["prepare", "{photos}", "{tmp}/missing/parent/out"], "does not exist"),
        (["prepare", "{photos}", "{file}"], "is an existing file"),
        (["prepare", "{photos}", "{tmp}/out", "--preview", "{tmp}/missing/p.png"], "does not exist"),
        (["prepare", "{photos}", "{tmp}/out", "--preview", "{tmp}"], "is an existing folder"),
        (["prepare", "{empty}", "{tmp}/out"], "no image files"),
        (["extract", "{tmp}/nowhere.png", "--sketch-out", "{tmp}/s.png"], "does not exist"),
        (["extract", "{photos}/coffee.jpg"], "nothing to do"),
        (["extract", "{bad}", "--sketch-out", "{tmp}/s.png"], "empty file"),
        (["extract", "{photos}/coffee.jpg", "--sketch-out", "{tmp}/missing/s.png"], "does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line(capsys, photo_dir, tmp_path, argv, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "bad.png").write_bytes(b"")
    subs = {
        "{tmp}": str(tmp_path),
        "{photos}": str(photo_dir),
        "{file}": str(tmp_path / "a_file"),
        "{empty}": str(tmp_path / "empty"),
        "{bad}": str(tmp_path / "bad.png"),
    }
    args = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(a)
    code, _, err = run(capsys, *args)
    assert code != 0
    assert fragment in one_clear_line(err)
    assert not (tmp_path / "out" / "cache.json").exists()


def test_bad_argument_values_are_refused_by_the_parser(capsys, photo_dir, tmp_path):
    for extra in (["--size", "0"], ["--size", "x"], ["--sketch-detail", "2"], ["--stroke-detail", "nan"]):
        with pytest.raises(SystemExit) as e:
            main(["prepare", str(photo_dir), str(tmp_path / "o"), *extra])
        assert e.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "diss", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("diss ")


def test_every_command_of_the_parser_has_its_body_in_one_module():
    """The parser's commands and the lazy table (``diss.cli.COMMANDS``) name the same commands, each a function of its
    module: a command added to one and not the other would be an unexpected error, not a help line."""
    import argparse
    import importlib

    from diss.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)
    for name, (module, _) in COMMANDS.items():
        assert callable(getattr(importlib.import_module(f"diss.cli.{module}"), name))
