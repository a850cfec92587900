"""Decoding any image file safely into RGB uint8, and the crop/resize every part of diss uses."""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from diss.conventions import on_white
from diss.outputs import IMAGE_WRITE_FORMATS, image_format, replacing

#: file name suffixes treated as images when scanning folders (lower case)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"})
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}}
#: images with more pixels than this are refused before decoding (decompression bombs)
MAX_PIXELS = 64_000_000

# A truncated file must be an error, never a silently gray-filled image.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageLoadError(ValueError):
    """A file that cannot be used as an image; ``reason`` is a short phrase such as "truncated or corrupt"."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def find_images(root: str | os.PathLike) -> list[Path]:
    """All files under ``root`` (recursive, hidden entries skipped) with an image suffix, sorted for a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(dirpath) / name)
    return sorted(found)


def to_rgb(img: Image.Image) -> np.ndarray:
    """Any PIL mode → (H, W, 3) uint8; transparency is composited onto white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if mode == "F":
            lo, hi = float(np.nanmin(a, initial=0)), float(np.nanmax(a, initial=1))
            a = (a - lo) / max(hi - lo, 1e-12) * 255.0
        else:
            a = a * (255.0 / hi)
        g = np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "P" or mode == "PA" or "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode == "LA":
        img = img.convert("RGBA")
    if img.mode == "RGBA" or img.mode == "RGBa":
        return on_white(np.asarray(img.convert("RGBA")))
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` to (H, W, 3) uint8 RGB, upright per EXIF; raise ImageLoadError naming what was wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ImageLoadError(path, f"cannot be read ({e.strerror or e})") from None
    if path.is_dir():
        raise ImageLoadError(path, "is a folder, not an image file")
    if size == 0:
        raise ImageLoadError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w < 1 or h < 1:
                    raise ImageLoadError(path, f"has no pixels ({w}x{h})")
                if w * h > max_pixels:
                    raise ImageLoadError(
                        path,
                        f"too large ({w}x{h} pixels, limit {max_pixels:,}): refused as a possible decompression bomb",
                    )
                img.seek(0)  # first frame of an animation
                img.load()
                img = ImageOps.exif_transpose(img)
                return to_rgb(img)
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, SyntaxError):
        raise ImageLoadError(path, "not an image (unknown or unsupported format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(path, "too large: refused as a possible decompression bomb") from None
    # MemoryError is not caught: it is the machine's fault, not the file's (the command line says "out of memory")
    except (OSError, ValueError, EOFError, IndexError, struct.error) as e:
        raise ImageLoadError(path, f"truncated or corrupt ({str(e).strip() or type(e).__name__})") from None


def center_square(rgb: np.ndarray) -> np.ndarray:
    """The largest centred square of an (H, W, ...) array."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return rgb[top : top + s, left : left + s]


def resize(array: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (side, or (W, H)): area averaging when shrinking, Lanczos when enlarging."""
    w, h = (size, size) if isinstance(size, int) else size
    if array.shape[1] == w and array.shape[0] == h:
        return array
    shrink = w * h <= array.shape[0] * array.shape[1]
    out = cv2.resize(array, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
    return out


def _save_atomically(array: np.ndarray, path: Path, fmt: str) -> None:
    """Write to a temporary name beside ``path``, then rename it into place: never a half-written file at ``path``."""
    with replacing(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))


def save_png(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write a uint8 array as PNG atomically: to a temporary name beside it, then renamed into place."""
    _save_atomically(array, Path(path), "PNG")


def save_image(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write a uint8 array atomically in the format its suffix names (.png, .jpg/.jpeg, .webp, .bmp, .tif/.tiff)."""
    fmt = image_format(path)
    if fmt is None:
        raise ValueError(f"{path}: not an image file name; use one of {', '.join(IMAGE_WRITE_FORMATS)}")
    _save_atomically(array, Path(path), fmt)
