import numpy as np
import pytest
from PIL import Image

from conftest import bad_files, odd_but_valid_files
from diss.data.images import ImageLoadError, center_square, find_images, load_image, resize, save_png


@pytest.fixture
def rgb(photos):
    return photos["coffee"][:, :80]  # not square: rotation must show in the shape


@pytest.mark.parametrize(
    "name,reason",
    [
        ("zero.png", "empty"),
        ("text.png", "not an image"),
        ("truncated.png", "truncated"),
        ("truncated.jpg", "truncated"),
        ("bomb.png", "decompression bomb"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, rgb, name, reason):
    path = tmp_path / name
    path.write_bytes(bad_files(rgb)[name])
    with pytest.raises(ImageLoadError) as e:
        load_image(path)
    assert reason in e.value.reason
    assert name in str(e.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="cannot be read"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_odd_modes_decode_to_rgb(tmp_path, rgb):
    files = odd_but_valid_files(rgb)
    h, w = rgb.shape[:2]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out = load_image(tmp_path / name)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, name
        expected_shape = (w, h) if name == "exif_rotated.jpg" else (h, w)
        assert out.shape[:2] == expected_shape, name
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.abs(load_image(tmp_path / "gray16.png")[:, :, 0].astype(int) - gray).max() <= 1
    assert np.array_equal(load_image(tmp_path / "gray.png")[:, :, 1], gray)
    # transparency is composited onto white
    assert (load_image(tmp_path / "rgba.png")[: h // 4, : w // 4] == 255).all()
    # CMYK comes back close to the original colours
    assert np.abs(load_image(tmp_path / "cmyk.jpg").astype(int) - rgb).mean() < 12
    # EXIF orientation 6 means "rotate 90° clockwise to view"
    rotated = load_image(tmp_path / "exif_rotated.jpg").astype(int)
    assert np.abs(rotated - np.rot90(rgb, k=-1)).mean() < 8
    # animated GIF: the first frame
    first = load_image(tmp_path / "animated.gif").astype(int)
    assert np.abs(first - rgb).mean() < np.abs(first - (255 - rgb)).mean()


def test_find_images_is_recursive_sorted_and_skips_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for p in ["z.PNG", "a.jpg", "b/c.webp", ".hidden/d.png", ".e.png", "notes.txt"]:
        (tmp_path / p).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert found == ["a.jpg", "b/c.webp", "z.PNG"]


def test_center_square_and_resize(rgb):
    sq = center_square(rgb)
    assert sq.shape[0] == sq.shape[1] == min(rgb.shape[:2])
    assert resize(sq, 32).shape == (32, 32, 3)
    assert resize(sq, 200).shape == (200, 200, 3)
    assert resize(sq, (40, 20)).shape == (20, 40, 3)


def test_save_png_is_atomic(tmp_path, rgb):
    target = tmp_path / "x.png"
    save_png(rgb, target)
    assert np.array_equal(np.asarray(Image.open(target)), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
