"""The command line answers at once: help and argument errors import no torch, diffusers, gradio or accelerate, and a
command's wrong flag points to that command's help."""

import json
import subprocess
import sys

import pytest

from diss import defaults
from diss.cli import main

HEAVY = ("torch", "diffusers", "gradio", "accelerate")

# each argv is run by main() in a fresh interpreter, which then lists the heavy modules that got imported
PROBE = """
import json, sys
from diss.cli import build_parser, main
build_parser()
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""


def test_help_and_argument_errors_import_nothing_heavy(tmp_path):
    argvs = [
        ["--help"],
        ["--version"],
        [],
        ["generate", "--help"],
        ["edit", "--help"],
        ["train", "--help"],
        ["evaluate", "--help"],
        ["app", "--help"],
        ["demo", "--help"],
        ["generate", "--out", "x.png", "--foo"],
        ["generate", "--sketch-scale", "nan", "--out", "x.png"],
        ["generate", "--backend", "cuda-please", "--out", "x.png"],
        ["train", "--data", "d", "--out", "r", "--stage", "3"],
        # refusals made before any work: the same
        ["generate", "--sketch", "missing.png", "--out", "o.png"],
        ["generate", "--num", "100000", "--out", "o.png"],
        ["generate", "--out", "o.txt"],
        ["evaluate", "--model", "m", "--data", "missing", "--out", "r"],
    ]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argvs), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert "usage: diss generate" in result.stdout and "--backend" in result.stdout
    assert "Traceback" not in result.stderr
    assert "missing.png does not exist" in result.stderr and "limit of 1,024" in result.stderr
    assert "not an image format" in result.stderr and "photo folder missing does not exist" in result.stderr


def test_python_dash_m_help_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "diss", "--help"], capture_output=True, text=True, check=True)
    for command in ("generate", "edit", "train", "app", "demo", "evaluate"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "argv,expected",
    [
        (
            ["generate", "--out", "o.png", "--foo"],
            "diss generate: error: unrecognized arguments: --foo (see diss generate --help)",
        ),
        (
            ["edit", "--image", "i.png", "--mask", "m.png", "--out", "o.png", "--foo", "1"],
            "diss edit: error: unrecognized arguments: --foo 1 (see diss edit --help)",
        ),
        (["train", "--data", "d", "--out", "r", "--lr-typo", "1"], "(see diss train --help)"),
        (["demo", "extra"], "diss demo: error: unrecognized arguments: extra (see diss demo --help)"),
        (["--foo", "generate", "--out", "o.png"], "diss: error: unrecognized arguments: --foo (see diss --help)"),
    ],
)
def test_a_wrong_flag_points_to_its_commands_help(capsys, argv, expected):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize("command", ["generate", "edit", "demo", "evaluate", "app"])
def test_every_generating_command_takes_backend(capsys, command):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--backend {auto,torch,openvino}" in out
    assert ("--verbose" in out) == (command != "app")


def test_settings_decided_in_one_place():
    from diss.train.config import TrainConfig as LightTrainConfig
    from diss.train.loop import TrainConfig

    assert TrainConfig is LightTrainConfig  # one dataclass, so its defaults live in one place
    assert defaults.BACKENDS == ("auto", "torch", "openvino") and defaults.BACKEND in defaults.BACKENDS
