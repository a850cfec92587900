"""diss demo on the shipped model, with 2 sampling steps (the grids' layout, not their quality)."""

from PIL import Image

from diss.cli import main
from diss.demo import EXAMPLE_NAMES, background_edit, load_example
from diss.folder import EXAMPLES


def test_demo_writes_the_four_grids_and_prints_their_paths(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "demo"), "--steps", "2", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    names = ["realism_sweep.png", "scales_grid.png", "local_editing.png", "examples.png"]
    for name in names:
        path = tmp_path / "demo" / name
        assert str(path) in out
        w, h = Image.open(path).size
        assert w > 4 * 256 and h > 256  # the shipped cascade's 256 px images, each at full size
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(names)  # no temp files left


def test_demo_bad_output_folder_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "missing" / "deeper"):
        code = main(["demo", "--out", str(out), "--steps", "1", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "error" in err


def test_examples_are_drawings_and_the_edit_mask_keeps_the_flower():
    for name in EXAMPLE_NAMES:
        sketch, stroke = load_example(name)
        assert (EXAMPLES / f"{name}-sketch.png").is_file()
        assert (sketch < 128).mean() < 0.25  # sparse dark lines on white
        assert (stroke.min(axis=2) < 250).mean() > 0.2  # some paint
    _, stroke = load_example("daisy")
    mask, new_stroke = background_edit(stroke, 64)
    assert mask[32, 32] == 0 and mask[0, 0] == 255  # the centre is kept, the corners are regenerated
    h, w = stroke.shape[:2]
    assert (new_stroke[h // 2, w // 2] == stroke[h // 2, w // 2]).all()
