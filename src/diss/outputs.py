"""Where results go: checks made before any work starts, so a bad path costs nothing and leaves nothing, and the one
way every file or folder is written — under a temporary name beside it, then renamed into place, so that a killed run
never leaves a half-written file where a finished one belongs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from diss.errors import DissError

#: the formats results can be written in, by file name suffix (lower case) → Pillow's format name
IMAGE_WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def image_format(path: str | os.PathLike) -> str | None:
    """Pillow's format name for writing ``path`` (from its suffix), or None when the suffix is not an image format."""
    return IMAGE_WRITE_FORMATS.get(Path(path).suffix.lower())


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
    path = output_file(path)  # an existing folder, a missing or read-only one: said first
    if image_format(path) is None:
        what = f"ends in {path.suffix!r}" if path.suffix else "has no extension"
        raise DissError(f"output file {path} {what}, not an image format: use one of {', '.join(IMAGE_WRITE_FORMATS)}")
    return path


def temporary_name(path: Path) -> Path:
    """The hidden name beside ``path`` that ``replacing`` writes to first (one per process and thread; it keeps the
    suffix, which some writers need: ``np.save`` adds ".npy" to a name without it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.tmp{path.suffix}")


def remove(path: Path) -> None:
    """Delete a file or a folder tree, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


#: what ``temporary_name`` gives, as a glob: what a killed run may have left
TEMPORARY_GLOB = ".*.[0-9]*-[0-9]*.tmp*"
#: the temporaries of checkpoints and cache shards before 2026-12-06 (".tmp-step-00001000-PID", ".tmp-00012-PID")
LEGACY_TEMPORARY_GLOB = ".tmp-*"


def remove_stale(folder: Path) -> None:
    """Delete what ``replacing`` (or an older diss) left in ``folder`` when a run was killed mid-write."""
    for stale in [*folder.glob(TEMPORARY_GLOB), *folder.glob(LEGACY_TEMPORARY_GLOB)]:
        remove(stale)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary name beside ``path``; what the block writes there (a file, or a folder it makes) then
    replaces ``path``. If the block fails, ``path`` is left as it was and the temporary is removed."""
    path = Path(path)
    tmp, old = temporary_name(path), temporary_name(path.with_name(path.name + ".old"))
    remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.exists():  # a folder cannot replace a folder: the old one steps aside first
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # and comes back if the new one cannot take its place
                raise
        else:
            os.replace(tmp, path)
    finally:
        remove(tmp)
        remove(old)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``replacing``."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_npy(path: str | os.PathLike, array) -> None:
    """``np.save`` ``array`` to ``path`` through ``replacing``."""
    import numpy as np

    with replacing(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save adds no ".npy" to its name
        np.save(f, array)


def write_json(path: str | os.PathLike, value, indent: int = 2) -> None:
    """Write ``value`` as JSON to ``path`` through ``replacing``."""
    write_text(path, json.dumps(value, indent=indent))
