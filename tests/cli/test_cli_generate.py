"""diss generate / diss edit on a tiny random model: files, folders, grids, and bad input."""

import numpy as np
import pytest
from PIL import Image

from diss.cli import main
from diss.errors import DissError


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


def test_a_grid_shows_a_cascades_images_at_their_own_size(capsys, files):
    """--num 2 on a cascade (a 64 px base, 4× upsampler): two 256 px cells, not thumbnails of the base's size."""
    import torch

    from diss.model import build_unet, preset
    from diss.pipeline import DiSSPipeline
    from diss.schedulers import make_sampler
    from diss.upsampler import build_upsampler, make_upsampler_scheduler, upsampler_preset

    torch.manual_seed(0)
    DiSSPipeline(unet=build_unet(preset("tiny"), 64), scheduler=make_sampler(),
                 upsampler=build_upsampler(upsampler_preset("tiny")), upsampler_scheduler=make_upsampler_scheduler()
                 ).save_pretrained(files / "cascade")  # fmt: skip
    code, _, err = cli(capsys, "generate", "--model", files / "cascade", "--steps", 1, "--quiet", "--sketch",
                       files / "sk/a.png", "--num", 2, "--out", files / "grid.png")  # fmt: skip
    grid = np.asarray(Image.open(files / "grid.png"))
    assert code == 0, err
    assert 2 * 256 <= grid.shape[1] < 3 * 256 and grid.shape[0] >= 256  # the seeds' labels above


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


def test_batched_folders_equal_one_by_one_and_skip_bad_files(capsys, model, files, monkeypatch):
    # fp32: in bf16 autocast (CPUs with AVX512-BF16) a batch's numerics differ from one image's by up to ~10 grey
    # levels on this untrained model; the point here is that batching gives each input its own drawing and seeds
    monkeypatch.setattr("diss.runtime.Runtime.autocast", property(lambda self: None))
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
        assert np.abs(batched - alone).max() <= 1  # float rounding of another batch size
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
    monkeypatch.setattr("diss.folder.shipped_path", lambda name: files / "no-such" / name)  # e.g. no pretrained/
    code, _, err = cli(capsys, "generate", "--sketch", files / "sk/a.png", "--out", files / "x.png")
    assert code != 0 and "pass --model" in err and len(err.strip().splitlines()) == 1
    assert not (files / "x.png").exists()


@pytest.mark.slow
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


# ------------------------------------------------------------------------------- bounded batches, grids, outputs


@pytest.fixture
def calls(monkeypatch):
    """Records how many images each pipeline call makes."""
    from diss.pipeline import DiSSPipeline

    seen, original = [], DiSSPipeline.__call__

    def recording(pipe, *args, **kwargs):
        seen.append(kwargs["num_images"])
        return original(pipe, *args, **kwargs)

    monkeypatch.setattr(DiSSPipeline, "__call__", recording)
    return seen


def _never_load(monkeypatch):
    from diss.pipeline import DiSSPipeline

    def fail(*a, **k):
        raise AssertionError("the model was loaded although the command should have stopped before")

    monkeypatch.setattr(DiSSPipeline, "from_pretrained", fail)


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (["--num", "100000"], "100,000 images"),
        (["--num", "400", "--sweep", "realism=0,0.5,1"], "--num 400 × 3 sweep values"),
    ],
)
def test_an_absurd_grid_is_refused_up_front(capsys, model, files, monkeypatch, extra, fragment):
    _never_load(monkeypatch)
    argv = ["generate", "--model", model, "--sketch", files / "sk/a.png", "--stroke", files / "st/a.png"]
    code, out, err = cli(capsys, *argv, *extra, "--out", files / "o.png")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and fragment in lines[0] and "limit of 1,024" in lines[0], err
    assert "stroke" not in lines[0] and not (files / "o.png").exists()


def test_num_is_generated_in_batches_of_batch_size(capsys, model, files, calls):
    base = ["generate", "--model", model, "--steps", 1, "--quiet", "--sketch", files / "sk/a.png"]
    code, _, _ = cli(capsys, *base, "--num", 5, "--batch-size", 2, "--out", files / "grid.png")
    assert code == 0 and calls == [2, 2, 1]
    grid = Image.open(files / "grid.png")
    assert grid.size[0] > 5 * 96  # five columns, one per seed
    calls.clear()  # a sweep: each value in its own calls, none over the batch size
    code, _, _ = cli(capsys, *base, "--num", 3, "--batch-size", 2, "--sweep", "realism=0,1", "--out", files / "s.png")
    assert code == 0 and calls == [2, 1, 2, 1]


def test_the_grid_of_a_batched_num_equals_one_call(capsys, model, files, monkeypatch):
    monkeypatch.setattr("diss.runtime.Runtime.autocast", property(lambda self: None))  # fp32 (see above)
    base = ["generate", "--model", model, "--steps", 2, "--quiet", "--sketch", files / "sk/a.png"]
    base += ["--stroke", files / "st/a.png", "--num", 3]
    assert cli(capsys, *base, "--batch-size", 1, "--out", files / "one_by_one.png")[0] == 0
    assert cli(capsys, *base, "--batch-size", 8, "--out", files / "together.png")[0] == 0
    one_by_one, together = (np.asarray(Image.open(files / f"{n}.png")).astype(int) for n in ("one_by_one", "together"))
    assert np.abs(one_by_one - together).max() <= 1  # each image keeps its seed, whatever the batch


def test_folders_are_written_as_their_batches_finish(capsys, model, files, monkeypatch):
    from diss.pipeline import DiSSPipeline

    for name in ("c", "d"):
        Image.open(files / "sk/a.png").save(files / "sk" / f"{name}.png")
        Image.open(files / "st/a.png").save(files / "st" / f"{name}.png")
    (files / "out").mkdir()
    seen, original = [], DiSSPipeline.__call__

    def recording(pipe, *args, **kwargs):
        seen.append((kwargs["num_images"], sorted(p.name for p in (files / "out").iterdir())))
        return original(pipe, *args, **kwargs)

    monkeypatch.setattr(DiSSPipeline, "__call__", recording)
    argv = ["generate", "--model", model, "--steps", 1, "--quiet", "--sketch", files / "sk", "--stroke", files / "st"]
    code, out, _ = cli(capsys, *argv, "--batch-size", 3, "--out", files / "out")
    assert code == 0 and "wrote 4 image(s)" in out
    assert seen == [(3, []), (1, ["a.png", "b.png", "c.png"])]
    seen.clear()  # --num 3, --batch-size 2: two calls per input, each input's grid written before the next starts
    code, _, _ = cli(capsys, *argv, "--num", 3, "--batch-size", 2, "--out", files / "out")
    assert code == 0 and [n for n, _ in seen] == [2, 1] * 4
    assert [len(names) for _, names in seen[2::2]] == [4, 4, 4]  # (the first run's files are there already)


def test_a_progress_bar_counts_the_images(capsys, model, files):
    argv = ["generate", "--model", model, "--steps", 1, "--sketch", files / "sk/a.png", "--num", 3]
    code, _, err = cli(capsys, *argv, "--batch-size", 1, "--out", files / "o.png")
    assert code == 0 and "generate" in err and "3/3" in err and "img" in err


@pytest.mark.parametrize("suffix,fmt", [(".jpg", "JPEG"), (".jpeg", "JPEG"), (".webp", "WEBP"), (".tif", "TIFF"),
                                        (".bmp", "BMP"), (".PNG", "PNG")])
def test_the_output_is_written_in_the_format_its_name_says(capsys, model, files, suffix, fmt):
    target = files / f"o{suffix}"
    argv = ["generate", "--model", model, "--steps", 1, "--quiet", "--sketch", files / "sk/a.png", "--out", target]
    code, _, _ = cli(capsys, *argv)
    assert code == 0 and Image.open(target).format == fmt and Image.open(target).size == (32, 32)
    assert [p.name for p in files.iterdir() if p.name.startswith(".")] == []  # no temporary file left


@pytest.mark.parametrize("name", ["o.txt", "o", "o.gif", "o.png.tmp"])
def test_an_output_name_that_is_not_an_image_format_is_refused_first(capsys, model, files, monkeypatch, name):
    _never_load(monkeypatch)
    code, _, err = cli(capsys, "generate", "--model", model, "--sketch", files / "sk/a.png", "--out", files / name)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "not an image format" in lines[0] and ".png, .jpg" in lines[0], err
    assert not (files / name).exists()


def test_extract_and_prepare_outputs_follow_their_names_too(capsys, photo_dir, tmp_path):
    code, _, _ = cli(
        capsys, "extract", photo_dir / "coffee.jpg", "--sketch-out", tmp_path / "s.jpg", "--stroke-out",
        tmp_path / "c.webp", "--size", 32,
    )
    assert code == 0 and Image.open(tmp_path / "s.jpg").format == "JPEG"
    assert Image.open(tmp_path / "c.webp").format == "WEBP"
    code, _, err = cli(capsys, "extract", photo_dir / "coffee.jpg", "--sketch-out", tmp_path / "s.txt")
    assert code == 2 and "not an image format" in err and not (tmp_path / "s.txt").exists()
    code, _, err = cli(capsys, "prepare", photo_dir, tmp_path / "cache", "--preview", tmp_path / "p.txt")
    assert code == 2 and "not an image format" in err and not (tmp_path / "cache").exists()


def test_a_failed_write_leaves_the_old_file_and_no_half_written_one(capsys, model, files, monkeypatch):
    import errno

    target = files / "o.png"
    target.write_bytes(b"the user's earlier result")
    real_save = Image.Image.save

    def disk_full(img, fp, *args, **kwargs):  # writes half, then the disk is full
        real_save(img, fp, *args, **kwargs)
        with open(fp, "r+b") as f:
            f.truncate(10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    argv = ["generate", "--model", model, "--steps", 1, "--quiet", "--sketch", files / "sk/a.png", "--out", target]
    code, _, err = cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "cannot write" in lines[0] and "No space left" in lines[0], err
    assert target.read_bytes() == b"the user's earlier result"
    assert [p.name for p in files.iterdir() if p.name.startswith(".")] == []


def test_out_of_memory_is_never_blamed_on_a_file(capsys, model, files, monkeypatch):
    from diss.data import images
    from diss.pipeline import DiSSPipeline

    def no_memory(*a, **k):
        raise MemoryError

    argv = ["generate", "--model", model, "--steps", 1, "--sketch", files / "sk/a.png", "--stroke", files / "st/a.png"]
    monkeypatch.setattr(DiSSPipeline, "__call__", no_memory)
    code, _, err = cli(capsys, *argv, "--num", 4, "--out", files / "o.png")
    lines = err.strip().splitlines()
    assert code == 2 and lines == ["diss generate: error: out of memory: lower --num/--batch-size"], err
    assert not (files / "o.png").exists()
    monkeypatch.undo()
    monkeypatch.setattr(images.Image, "open", no_memory)  # while decoding a (good) file
    with pytest.raises(MemoryError):
        images.load_image(files / "st/a.png")
    code, _, err = cli(capsys, *argv, "--out", files / "o.png")
    assert code == 2 and "out of memory" in err and "a.png" not in err and "corrupt" not in err, err


# ------------------------------------------------------------------------------------ what edge-case drawings mean


def _save(array, path):
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def _image(path):
    return np.asarray(Image.open(path))


def test_all_white_strokes_mean_no_stroke_anywhere(capsys, model, files):
    white = _save(np.full((40, 40, 3), 255), files / "white.png")
    base = ["generate", "--model", model, "--steps", 2, "--quiet", "--sketch", files / "sk/a.png"]
    code, _, err = cli(capsys, *base, "--stroke", white, "--out", files / "white-out.png")
    assert code == 0 and f"--stroke {white} is all white: no stroke anywhere" in err
    # realism follows the painted pixels' colours: there are none, so it changes nothing (it once painted all white)
    code, _, err = cli(capsys, *base, "--stroke", white, "--realism", "none", "--out", files / "white-none.png")
    assert code == 0 and "no stroke anywhere" in err
    assert np.array_equal(_image(files / "white-out.png"), _image(files / "white-none.png"))


def test_a_one_pixel_stroke_is_kept_or_said_to_be_lost(capsys, model, files):
    base = ["generate", "--model", model, "--steps", 2, "--quiet", "--sketch", files / "sk/a.png"]
    dot = np.full((32, 32, 3), 255)
    dot[10, 20] = (200, 30, 30)  # one pixel at the model's size: it is a stroke
    code, _, err = cli(capsys, *base, "--stroke", _save(dot, files / "dot.png"), "--out", files / "dot-out.png")
    assert code == 0 and "note" not in err
    cli(capsys, *base, "--stroke", files / "dot.png", "--realism", "none", "--out", files / "dot-none.png")
    assert not np.array_equal(_image(files / "dot-out.png"), _image(files / "dot-none.png"))  # realism used it
    big = np.full((256, 256, 3), 255)
    big[100, 100] = (200, 30, 30)  # one pixel of 256: averaged away at 32 px
    code, _, err = cli(capsys, *base, "--stroke", _save(big, files / "big.png"), "--out", files / "big-out.png")
    assert code == 0 and "covers less than a pixel at the model's 32 px: no stroke anywhere" in err


def test_an_all_black_mask_leaves_the_image_as_it_is(capsys, model, files, calls):
    img = _save(np.random.default_rng(1).integers(0, 255, (32, 32, 3)), files / "img.png")
    black = _save(np.zeros((32, 32)), files / "black.png")
    code, _, err = cli(
        capsys, "edit", "--model", model, "--image", img, "--mask", black, "--stroke", files / "st/a.png",
        "--steps", 2, "--quiet", "--num", 2, "--out", files / "kept.png",
    )
    assert code == 0 and "all black" in err and "nothing to regenerate" in err and calls == []
    code, _, err = cli(
        capsys, "edit", "--model", model, "--image", img, "--mask", black, "--steps", 2, "--quiet",
        "--out", files / "kept1.png",
    )
    assert code == 0 and np.array_equal(_image(files / "kept1.png"), _image(img))


def test_an_all_white_mask_regenerates_everything(capsys, model, files):
    img = _save(np.random.default_rng(2).integers(0, 255, (32, 32, 3)), files / "img.png")
    white = _save(np.full((32, 32), 255), files / "white-mask.png")
    common = ["--model", model, "--stroke", files / "st/a.png", "--realism", "none", "--steps", 2, "--quiet"]
    code, _, err = cli(capsys, "edit", "--image", img, "--mask", white, *common, "--out", files / "edited.png")
    assert code == 0 and "all white" in err and "whole image is regenerated" in err
    assert cli(capsys, "generate", *common, "--out", files / "generated.png")[0] == 0
    assert np.array_equal(_image(files / "edited.png"), _image(files / "generated.png"))  # the image played no part


# ------------------------------------------------------------------------------------------------------- backends


@pytest.fixture
def backends(monkeypatch):
    """Records the backend each load asks for; ``fallback`` makes the pipeline report that its backend fell back."""
    from diss.pipeline import DiSSPipeline

    asked, original = [], DiSSPipeline.to_best_device
    state = {"fallback": False, "error": None}

    def recording(pipe, backend="auto"):
        asked.append(backend)
        if state["error"]:
            raise DissError(state["error"])
        original(pipe, backend="torch")
        pipe.backend_note = f"backend: torch (test note for {backend})"
        pipe.backend_fallback = state["fallback"]
        return pipe

    monkeypatch.setattr(DiSSPipeline, "to_best_device", recording)
    return asked, state


def test_backend_and_verbose_reach_the_pipeline(capsys, model, files, backends):
    asked, state = backends
    base = ["generate", "--model", model, "--steps", 1, "--quiet", "--sketch", files / "sk/a.png"]
    code, _, err = cli(capsys, *base, "--out", files / "o.png")
    assert code == 0 and asked == ["auto"] and "backend" not in err
    code, _, err = cli(capsys, *base, "--backend", "openvino", "--verbose", "--out", files / "o.png")
    assert code == 0 and asked[-1] == "openvino" and "backend: torch (test note for openvino)" in err
    state["fallback"] = True  # a fallback is always said, --verbose or not
    code, _, err = cli(capsys, *base, "--backend", "openvino", "--out", files / "o.png")
    assert code == 0 and "test note for openvino" in err
    state["error"] = "openvino is not installed: pip install openvino"
    code, _, err = cli(capsys, *base, "--backend", "openvino", "--out", files / "new.png")
    assert code == 2 and err.strip() == f"diss generate: error: {state['error']}"
    assert not (files / "new.png").exists()


def test_demo_and_evaluate_pass_the_backend(capsys, model, files, backends, photo_dir):
    asked, state = backends
    state["error"] = "stop here"  # the load is what is checked; nothing needs to be generated
    code, _, err = cli(capsys, "demo", "--model", model, "--backend", "torch", "--out", files / "demo")
    assert code == 2 and asked == ["torch"] and "stop here" in err and not (files / "demo").exists()
    code, _, err = cli(
        capsys, "evaluate", "--model", model, "--data", photo_dir, "--out", files / "report", "--backend", "openvino"
    )
    assert code == 2 and asked == ["torch", "openvino"] and not (files / "report").exists()


def test_app_passes_the_backend(capsys, monkeypatch):
    seen = []
    monkeypatch.setattr("diss.app.layout.launch", lambda config: seen.append(config))
    assert main(["app", "--backend", "torch", "--port", "7999"]) == 0
    assert seen[0].backend == "torch" and seen[0].port == 7999


def test_a_failing_input_in_a_batch_is_skipped_and_the_others_made(capsys, model, files, monkeypatch):
    from diss.pipeline import DiSSPipeline

    marker = np.full((40, 40, 3), 255, np.uint8)
    marker[:10] = (1, 2, 3)  # the strokes the pipeline "diverges" on
    Image.fromarray(marker).save(files / "st" / "b.png")
    Image.open(files / "sk/a.png").save(files / "sk" / "c.png")
    Image.open(files / "st/a.png").save(files / "st" / "c.png")
    sizes, original = [], DiSSPipeline.__call__

    def diverging(pipe, sketch, stroke, **kwargs):
        sizes.append(kwargs["num_images"])
        strokes = stroke if isinstance(stroke, list) else [stroke]
        if any((np.asarray(s) == (1, 2, 3)).all(axis=-1).any() for s in strokes):
            raise DissError("sampling diverged (the model produced NaN or infinite values); lower the guidance scales")
        return original(pipe, sketch, stroke, **kwargs)

    monkeypatch.setattr(DiSSPipeline, "__call__", diverging)
    argv = ["generate", "--model", model, "--steps", 1, "--quiet", "--sketch", files / "sk", "--stroke", files / "st"]
    code, out, err = cli(capsys, *argv, "--batch-size", 3, "--out", files / "out")
    assert code == 0 and "wrote 2 image(s)" in out and "skipped b: sampling diverged" in err
    assert sizes == [3, 1, 1, 1]  # the batch, then each input alone to find the one at fault
    assert sorted(p.name for p in (files / "out").iterdir()) == ["a.png", "c.png"]
    sizes.clear()
    code, out, err = cli(capsys, *argv, "--batch-size", 1, "--out", files / "out1")
    assert code == 0 and "skipped b: sampling diverged" in err and sizes == [1, 1, 1]  # alone already: not rerun
