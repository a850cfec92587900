"""Shared fixtures: small real photos from scikit-image's bundled samples, and a corpus of bad image files."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# The suite runs the U-Net on PyTorch, the reference, unless DISS_BACKEND says otherwise (DISS_BACKEND=openvino runs
# every test on OpenVINO); tests/test_backend.py asks for OpenVINO by name. Converted models go to a scratch cache
# (inherited by the CLI's subprocesses), never the user's.
os.environ.setdefault("DISS_BACKEND", "torch")
os.environ["DISS_CACHE_DIR"] = tempfile.mkdtemp(prefix="diss-test-cache-")
atexit.register(shutil.rmtree, os.environ["DISS_CACHE_DIR"], ignore_errors=True)
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n 2: one core per worker (and its subprocesses), not two each
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def sample_photos(side: int = 96) -> dict[str, np.ndarray]:
    """A few real photos bundled with scikit-image, centre-cropped and resized to ``side``."""
    import skimage.data

    from diss.data.images import center_square, resize

    photos = {}
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"):
        photos[name] = resize(center_square(np.ascontiguousarray(getattr(skimage.data, name)())), side)
    return photos


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    return sample_photos()


@pytest.fixture
def photo_dir(tmp_path: Path, photos) -> Path:
    """A folder of good photos in several formats and sizes, one in a subfolder."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i, (name, rgb) in enumerate(photos.items()):
        fmt = ["png", "jpg", "webp", "bmp", "png"][i]
        target = root / ("sub" if i == 4 else "") / f"{name}.{fmt}"
        Image.fromarray(rgb).save(target)
    return root


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def bad_files(rgb: np.ndarray) -> dict[str, bytes]:
    """Files that must be refused, keyed by file name."""
    png = _encode(Image.fromarray(rgb), "PNG")
    jpg = _encode(Image.fromarray(rgb), "JPEG", quality=90)
    return {
        "zero.png": b"",
        "text.png": b"this is not an image, only text with an image name\n" * 3,
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": jpg[: len(jpg) // 2],
        "bomb.png": bomb_png(),
    }


def odd_but_valid_files(rgb: np.ndarray) -> dict[str, bytes]:
    """Files in unusual modes that must decode to a correct RGB image, keyed by file name."""
    h, w = rgb.shape[:2]
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    rgba = np.dstack([rgb, np.full((h, w), 255, np.uint8)])
    rgba[: h // 4, : w // 4, 3] = 0  # a transparent corner
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    frames = [Image.fromarray(rgb).convert("P"), Image.fromarray(255 - rgb).convert("P")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {
        "gray16.png": _encode(Image.fromarray(gray.astype(np.uint16) * 257), "PNG"),
        "palette.png": _encode(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "cmyk.jpg": _encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95),
        "rgba.png": _encode(Image.fromarray(rgba, "RGBA"), "PNG"),
        "gray.png": _encode(Image.fromarray(gray), "PNG"),
        "exif_rotated.jpg": _encode(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes()),
        "animated.gif": gif.getvalue(),
    }


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A model folder holding a seeded, untrained tiny U-Net at 32 px (fast; for the plumbing, not the pictures)."""
    import torch

    from diss.model import build_unet, preset
    from diss.pipeline import DiSSPipeline
    from diss.schedulers import make_sampler

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-model")
    DiSSPipeline(unet=build_unet(preset("tiny"), 32), scheduler=make_sampler()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_student_model(tmp_path_factory) -> Path:
    """A tiny teacher at 32 px with its (untrained) student, saved and loaded as a model folder."""
    import torch

    from diss.model import build_unet, preset
    from diss.pipeline import DiSSPipeline
    from diss.schedulers import make_sampler
    from diss.student import student_from_teacher

    torch.manual_seed(0)
    unet = build_unet(preset("tiny"), 32)
    pipe = DiSSPipeline(unet=unet, scheduler=make_sampler(), student=student_from_teacher(unet))
    with torch.no_grad():  # a student that differs from its teacher's conditional network
        pipe.student.conv_in.weight[:, 7:] = 0.3
    pipe.diss_meta = {"student": {"steps": [1, 2, 4], "scale_max": 3.0}}
    folder = tmp_path_factory.mktemp("with-student")
    pipe.save_pretrained(folder)
    return folder


def small_cache(tmp_path_factory, photos) -> Path:
    """The training tests' small cache: four photos at 32 px (each test module makes its own ``cache`` fixture of it;
    pytest's own ``cache`` fixture is not replaced everywhere)."""
    from PIL import Image

    from diss.data.cache import PrepareConfig, prepare

    src = tmp_path_factory.mktemp("src")
    for name, rgb in list(photos.items())[:4]:
        Image.fromarray(rgb).save(src / f"{name}.png")
    out = tmp_path_factory.mktemp("cache")
    prepare(src, out, PrepareConfig(size=32), workers=1, progress=False)
    return out
