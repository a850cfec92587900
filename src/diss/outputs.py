"""Checks on where results go, made before any work starts, so a bad path costs nothing and leaves nothing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from diss.errors import DissError


def _probe_writable(folder: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".diss-write-test-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise DissError(f"cannot write into {folder}: {e.strerror or e}; choose a writable folder") from None


def output_dir(path: str | os.PathLike) -> Path:
    """Make sure ``path`` is a writable folder: created if only its last part is missing; else one clear error."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DissError(f"output folder {path} is an existing file; give a folder path")
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise DissError(f"output folder {path} cannot be made: its parent {parent} does not exist; create it first")
        try:
            path.mkdir()
        except OSError as e:
            raise DissError(f"cannot create output folder {path}: {e.strerror or e}") from None
    _probe_writable(path)
    return path


def output_file(path: str | os.PathLike) -> Path:
    """Make sure a file can be written at ``path`` (its folder exists and is writable; it is not a folder)."""
    path = Path(path)
    if path.is_dir():
        raise DissError(f"output file {path} is an existing folder; give a file path such as {path / 'out.png'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DissError(f"folder {parent} for output file {path.name} does not exist; create it first")
    _probe_writable(parent)
    return path


def output_image(path: str | os.PathLike) -> Path:
    """``output_file`` for an image, whose suffix must name a format diss writes (written in that format)."""
    from diss.data.images import IMAGE_WRITE_FORMATS, image_format

    path = output_file(path)  # an existing folder, a missing or read-only one: said first
    if image_format(path) is None:
        what = f"ends in {path.suffix!r}" if path.suffix else "has no extension"
        raise DissError(f"output file {path} {what}, not an image format: use one of {', '.join(IMAGE_WRITE_FORMATS)}")
    return path
