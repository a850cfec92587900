"""[8/8] Reliability: a bad-input corpus (built here) through every CLI command and the Python API, broken and
malicious model folders, out-of-range dials, unwritable outputs, fuzzing of decoding and argument parsing, and SIGKILL
of training at random moments and in the middle of a checkpoint save."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from diss.cli import build_parser, main
from diss.data.images import ImageLoadError, load_image
from diss.data.inputs import to_rgb_array
from diss.errors import DissError
from diss.outputs import TEMPORARY_GLOB
from diss.pipeline import DiSSPipeline
from diss.train.checkpoint import list_checkpoints, load_checkpoint, load_newest
from reliability import (
    BAD_DIALS,
    COMMANDS,
    FAST,
    MARKER,
    MODEL_COMMANDS,
    free_port,
    kill_during_save,
    kill_resume_trials,
    make_train_cache,
    write_bad_models,
    write_helpers,
    write_image_corpus,
)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # refused by the argument parser
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(code, err: str, fragment: str | None = None) -> str | None:
    """None when the command failed the way diss promises (exit ≠ 0, one line, no traceback); else what was wrong."""
    lines = [line for line in err.splitlines() if line.strip()]
    if code in (0, None):
        return f"exit {code}"
    if len(lines) != 1 or "Traceback" in err or "unexpected error" in err:
        return f"not one clean line: {err!r}"
    if fragment and fragment not in lines[0]:
        return f"{fragment!r} not in {lines[0]!r}"
    return None


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photos):
    folder = tmp_path_factory.mktemp("corpus")
    good, bad = write_image_corpus(folder, photos["astronaut"])
    helpers = write_helpers(tmp_path_factory.mktemp("helpers"), photos)
    return folder, good, bad, helpers


@pytest.mark.parametrize("name,argv,outputs", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.slow
def test_every_corpus_file_through_every_file_command(capsys, tmp_path, corpus, tiny_model, name, argv, outputs):
    folder, good, bad, helpers = corpus
    problems = []
    for i, file in enumerate(good + bad):
        out = tmp_path / f"out{i}"
        out.mkdir()
        args = [a.format(f=folder / file, o=out, h=helpers, m=tiny_model) for a in argv]
        code, _, err = run_cli(capsys, *args)
        written = files_in(out)
        if file in good:
            if code != 0 or len(written) != outputs:
                problems.append(f"{file}: exit {code}, wrote {written}: {err.strip()[:200]}")
            for w in written:
                assert Image.open(out / w).size[0] >= 32
        else:
            why = refused(code, err, file)
            if why or written:
                problems.append(f"{file}: {why or ''} wrote {written}")
    assert not problems, "\n".join(problems)
    assert not (folder / MARKER).exists()


def test_the_corpus_as_folders(capsys, tmp_path, corpus, tiny_model):
    """Folder commands skip each bad file by name, make the rest, and finish with exit 0."""
    folder, good, bad, helpers = corpus
    code, out, err = run_cli(capsys, "prepare", folder, tmp_path / "cache", "--size", "32", "--workers", "1", "--quiet")
    assert code == 0 and "Traceback" not in err, err
    assert all(b in out + err for b in bad), out + err  # each refused file named with its reason
    # every good file is cached but the 1×1 one: training data is not upscaled without --allow-upscale
    assert f"{len(good) - 1} images in the cache" in out and "one_pixel.png: smaller than --size" in out + err
    code, out, err = run_cli(capsys, "extract", folder, "--sketch-out", tmp_path / "sk", "--size", "32", "--quiet")
    assert code == 0 and sorted(p.stem for p in (tmp_path / "sk").iterdir()) == sorted(Path(g).stem for g in good)
    assert all(b in err for b in bad) and "Traceback" not in err
    for sub in ("a", "b"):  # generate over folders: sketches and strokes matched by name
        shutil.copytree(folder, tmp_path / sub, ignore=shutil.ignore_patterns(MARKER))
    code, out, err = run_cli(
        capsys, "generate", "--model", tiny_model, "--sketch", tmp_path / "a", "--stroke", tmp_path / "b",
        "--out", tmp_path / "gen", *FAST,
    )  # fmt: skip
    assert code == 0 and "Traceback" not in err, err
    made = sorted(p.stem for p in (tmp_path / "gen").iterdir())
    assert made == sorted({Path(g).stem for g in good} - {Path(b).stem for b in bad}), made
    assert not list((tmp_path / "gen").glob(".*"))  # no temporary files left
    assert not (folder / MARKER).exists()


def test_the_python_api_on_the_corpus(corpus, tiny_model):
    folder, good, bad, helpers = corpus
    pipe = DiSSPipeline.from_pretrained(tiny_model)
    pipe.set_progress_bar_config(disable=True)
    kw = dict(num_inference_steps=2, output_type="np")
    for file in good:
        rgb = load_image(folder / file)
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        for call in (
            dict(sketch=folder / file),
            dict(stroke=folder / file),
            dict(sketch=helpers / "sketch.png", image=folder / file, mask_image=helpers / "mask.png"),
            dict(sketch=helpers / "sketch.png", image=helpers / "photo.png", mask_image=folder / file),
        ):
            assert pipe(**call, **kw).images.shape == (1, 32, 32, 3)
    for file in bad:
        with pytest.raises(ImageLoadError):
            load_image(folder / file)
        for key in ("sketch", "stroke"):
            with pytest.raises(DissError, match=file):
                pipe(**{key: folder / file}, **kw)
    for value in (np.full((8, 8, 3), np.nan), np.zeros((5,)), np.zeros((8, 8, 2)), np.zeros((0, 4, 3)), "nowhere.png"):
        with pytest.raises(DissError):
            pipe(sketch=value, **kw)
    assert not (folder / MARKER).exists()


def test_broken_and_malicious_model_folders(capsys, tmp_path, corpus, tiny_model):
    """Every command that loads a model, and from_pretrained, refuses each broken folder with one line and never
    unpickles anything."""
    folder, _, _, helpers = corpus
    cases = write_bad_models(tmp_path, tiny_model)
    problems = []
    for case, fragment in cases.items():
        model = tmp_path / case
        out = tmp_path / f"out-{case}"
        out.mkdir()
        with pytest.raises(DissError, match=fragment if case != "missing" else "not a diss model folder"):
            DiSSPipeline.from_pretrained(model)
        for argv in MODEL_COMMANDS:
            argv = [a.format(m=model, o=out, h=helpers, f=folder, port=free_port()) for a in argv]
            code, _, err = run_cli(capsys, *argv)
            why = refused(code, err, fragment)
            if why or files_in(out):
                problems.append(f"{case} / {argv[0]}: {why} wrote {files_in(out)}")
    assert not problems, "\n".join(problems)
    assert not (tmp_path / MARKER).exists(), "a pickle was executed"


@pytest.mark.parametrize("extra", BAD_DIALS)
def test_out_of_range_dials_are_one_line_and_no_output(capsys, tmp_path, corpus, tiny_model, extra):
    _, _, _, helpers = corpus
    code, _, err = run_cli(
        capsys, "generate", "--model", tiny_model, "--sketch", helpers / "sketch.png", "--out", tmp_path / "x.png",
        "--quiet", *extra,
    )  # fmt: skip
    assert refused(code, err) is None, err
    assert not (tmp_path / "x.png").exists()


def test_the_api_refuses_out_of_range_dials(tiny_model, corpus):
    _, _, _, helpers = corpus
    pipe = DiSSPipeline.from_pretrained(tiny_model)
    for kw in (
        *[{k: v} for k in ("sketch_guidance_scale", "stroke_guidance_scale") for v in (np.nan, np.inf, -1.0, 1e30)],
        *[{"realism": v} for v in (np.nan, np.inf, -0.5, 2.0)],
        *[{"num_inference_steps": v} for v in (0, -5, 10**6)],
        {"num_images": 0},
    ):
        with pytest.raises(DissError):
            pipe(helpers / "sketch.png", helpers / "sketch.png", **{"num_inference_steps": 2, **kw})


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody may write into: chmod 555 for a normal user; root ignores that, so /sys (no new files there)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    return Path("/sys")


def test_missing_and_read_only_output_folders(capsys, tmp_path, corpus, tiny_model):
    folder, good, _, helpers = corpus
    read_only = unwritable_folder(tmp_path)
    gen = ["generate", "--model", tiny_model, "--sketch", helpers / "sketch.png", *FAST]
    for argv, fragment in (
        ([*gen, "--out", tmp_path / "no" / "such" / "x.png"], "does not exist"),
        ([*gen, "--out", read_only / "x.png"], "cannot write"),
        (["generate", "--model", tiny_model, "--sketch", folder, "--out", read_only / "d", *FAST], "cannot"),
        (["extract", folder / good[0], "--sketch-out", read_only / "s.png"], "cannot write"),
        (["extract", folder, "--sketch-out", tmp_path / "no" / "such"], "does not exist"),
        (["prepare", folder, read_only / "cache", "--quiet"], "cannot"),
        (["demo", "--model", tiny_model, "--out", read_only / "demo", *FAST], "cannot"),
        (["export", tmp_path / "no-run", "--out", read_only / "m"], ""),
    ):
        code, _, err = run_cli(capsys, *argv)
        assert refused(code, err, fragment) is None, (argv, err)
    assert not (tmp_path / "no").exists()


# ---------------------------------------------------------------------------------------------------- fuzzing


def _valid_files() -> list[bytes]:
    rgb = np.random.default_rng(0).integers(0, 255, (24, 20, 3), dtype=np.uint8)
    out = []
    for fmt, kw in (("PNG", {}), ("JPEG", {"quality": 80}), ("GIF", {}), ("BMP", {}), ("WEBP", {}), ("TIFF", {})):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    return out


VALID = _valid_files()


@st.composite
def damaged_files(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=4096), damaged_files()))
def test_fuzz_decoding_never_fails_any_other_way(tmp_path, data):
    path = tmp_path / "fuzz.png"
    path.write_bytes(data)
    try:
        rgb = load_image(path, max_pixels=4_000_000)
    except ImageLoadError:
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and min(rgb.shape[:2]) >= 1


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
        elements=None,
    )
)
def test_fuzz_array_inputs_are_images_or_one_clear_error(array):
    try:
        rgb = to_rgb_array(array, "sketch")
    except DissError as e:
        assert "\n" not in str(e)
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and min(rgb.shape[:2]) >= 1


OPTIONS = ["--sketch-scale", "--stroke-scale", "--realism", "--steps", "--num", "--seed", "--sampler", "--batch-size"]
TEXT = st.one_of(
    st.sampled_from(["0", "1", "-1", "nan", "inf", "-inf", "1e308", "1e-320", "10001", "none", "", " ", "0x10"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OPTIONS), TEXT), max_size=4))
@pytest.mark.slow
def test_fuzz_generate_arguments_parse_to_valid_values_or_one_line(pairs):
    argv = ["generate", "--sketch", "s.png", "--out", "o.png"] + [x for p in pairs for x in (p[0], p[1])]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = build_parser().parse_args(argv)
    except SystemExit as e:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        assert e.code == 2 and len(lines) == 1 and "error:" in lines[0], err.getvalue()
        return
    for scale in (args.sketch_scale, args.stroke_scale):
        assert isinstance(scale, Path) or 0 <= scale <= 100
    assert args.realism is None or 0 <= args.realism <= 1
    assert args.steps is None or 1 <= args.steps <= 10_000  # None: the model folder's own default
    assert args.num >= 1 and args.batch_size >= 1
    assert args.sampler in ("ddpm", "ddim", "dpm++")


# ---------------------------------------------------------------------------------------------------- kill -9


@pytest.fixture(scope="module")
def cache(tmp_path_factory, photos):
    return make_train_cache(tmp_path_factory.mktemp("kill"), photos)


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_checkpoint_save(cache, tmp_path):
    run = tmp_path / "run"
    assert kill_during_save(cache, run) == -9  # died by SIGKILL while writing step 4's checkpoint
    assert [p.name for p in list_checkpoints(run)] == ["step-00000002"]  # the half-written one is not listed
    assert list((run / "checkpoints").glob(".step-00000004.*.tmp"))  # ... though its pieces are on disk
    assert load_newest(run).step == 2  # lost: steps 3-4, one checkpoint interval
    train = ["train", "--data", cache, "--out", run, "--preset", "tiny", "--max-steps", 8, "--batch-size", 4]
    code = main([str(a) for a in [*train, "--checkpoint-every", 2, "--precision", "fp32", "--quiet", "--resume"]])
    assert code == 0 and load_newest(run).step == 8
    assert not list((run / "checkpoints").glob(TEMPORARY_GLOB))  # the stale pieces were cleaned up


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(cache, tmp_path):
    trials, code, err = kill_resume_trials(cache, tmp_path / "run", kills=2, seed=0, max_steps=30, every=5)
    assert code == 0, err
    for t in trials:
        assert not t["newest_broken"], t
        assert 0 <= t["lost"] <= 5, t  # at most one checkpoint interval
    newest = list_checkpoints(tmp_path / "run")[-1]
    assert load_checkpoint(newest).step == 30


@pytest.mark.slow
def test_disk_full_during_training_is_one_line_and_the_run_resumes(capsys, cache, tmp_path, monkeypatch):
    import diss.train.checkpoint as mod

    real = mod.save_file

    def full(tensors, path, *a, **k):  # the disk fills up while step 4's checkpoint is written
        if "step-00000004" in str(path) and path.name == "optimizer.safetensors":
            raise OSError(28, "No space left on device")
        return real(tensors, path, *a, **k)

    run = tmp_path / "run"
    train = ["train", "--data", cache, "--out", run, "--preset", "tiny", "--max-steps", 8, "--batch-size", 4]
    train += ["--checkpoint-every", 2, "--precision", "fp32", "--quiet"]
    monkeypatch.setattr(mod, "save_file", full)
    code, _, err = run_cli(capsys, *train)
    assert refused(code, err, "No space left on device") is None, err
    assert "resume" in err and load_newest(run).step == 2
    monkeypatch.setattr(mod, "save_file", real)  # space freed
    code, _, err = run_cli(capsys, *train, "--resume")
    assert code == 0 and load_newest(run).step == 8, err
