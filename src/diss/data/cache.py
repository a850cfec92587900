"""The on-disk cache of (photo, sketch, stroke) triples that ``diss prepare`` writes and training streams.

Layout of a cache folder (all arrays uint8, NumPy ``.npy``, memory-mapped when read)::

    cache.json                 {"format": "diss-cache", "version": 1, "size": S, "seed": .., "sketch": .., "stroke": ..}
    shards/00000/images.npy    (n, S, S, 3)  photo, centre-cropped and resized
    shards/00000/sketches.npy  (n, S, S)     0 = line, 255 = paper
    shards/00000/strokes.npy   (n, S, S, 3)  paint on white; white = no stroke
    shards/00000/items.json    {"sources": [n relative paths], "skipped": [{"source": .., "reason": ..}]}
    shards/00001/...

A shard is written to a hidden temporary folder and renamed into place when complete, so a killed run leaves only
whole shards; re-running skips every source already in a shard (done or skipped) and carries on. The settings in
``cache.json`` must match on re-runs: a cache made with other settings is refused rather than mixed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from diss import defaults
from diss.data.images import IMAGE_SUFFIXES, ImageLoadError, center_square, find_images, load_image, resize
from diss.data.sketch import SketchConfig, extract_sketch
from diss.data.stroke import StrokeConfig, extract_stroke
from diss.errors import DissError
from diss.outputs import output_dir, remove_stale, replacing, write_json

FORMAT = "diss-cache"
VERSION = 1
SHARD_SIZE = 256


@dataclass(frozen=True)
class PrepareConfig:
    """Everything that decides a cache's content; stored in ``cache.json``."""

    size: int = defaults.PREPARE_SIZE
    seed: int = 0
    sketch: SketchConfig = field(default_factory=SketchConfig)
    stroke: StrokeConfig = field(default_factory=StrokeConfig)
    #: upscale sources smaller than ``size`` instead of skipping them
    allow_upscale: bool = False

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}


def item_seed(seed: int, source: str) -> int:
    """The per-image seed: stable across runs, machines and worker order."""
    return (zlib.crc32(source.encode("utf-8")) ^ (seed * 0x9E3779B1)) & 0x7FFFFFFF


def make_triple(rgb: np.ndarray, config: PrepareConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) photo → (image (S, S, 3), sketch (S, S), stroke (S, S, 3)); conditions are made at 2S, then shrunk."""
    square = center_square(rgb)
    work = resize(square, 2 * config.size)
    image = resize(square, config.size)
    return (
        image,
        extract_sketch(work, config.size, config.sketch),
        extract_stroke(work, config.size, config.stroke, seed),
    )


def _process(job: tuple[str, str, PrepareConfig]):
    path, source, config = job
    try:
        rgb = load_image(path)
    except ImageLoadError as e:
        return source, e.reason
    h, w = rgb.shape[:2]
    if min(h, w) < config.size and not config.allow_upscale:
        return source, f"smaller than --size ({w}x{h} < {config.size}); pass --allow-upscale to use it"
    return source, make_triple(rgb, config, item_seed(config.seed, source))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DissError(
            f"{path} is unreadable or not valid JSON ({e}); the cache is damaged, prepare it again"
        ) from None
    if not isinstance(data, dict):
        raise DissError(f"{path} does not hold a JSON object; the cache is damaged, prepare it again")
    return data


def read_manifest(root: str | os.PathLike) -> dict:
    """The validated ``cache.json`` of a cache folder, or one clear DissError."""
    root = Path(root)
    if not root.is_dir():
        raise DissError(f"cache folder {root} does not exist; make one with: diss prepare PHOTOS_DIR {root}")
    manifest = root / "cache.json"
    if not manifest.is_file():
        raise DissError(f"{root} is not a diss cache (no cache.json); make one with: diss prepare PHOTOS_DIR {root}")
    data = _read_json(manifest)
    if data.get("format") != FORMAT or data.get("version") != VERSION or not isinstance(data.get("size"), int):
        raise DissError(f"{manifest} is not a diss cache of version {VERSION}; prepare the cache again")
    return data


def shard_dirs(root: str | os.PathLike) -> list[Path]:
    """Complete shards of a cache, in order (temporary, half-written ones are hidden and ignored)."""
    folder = Path(root) / "shards"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_shard_items(shard: Path) -> dict:
    data = _read_json(shard / "items.json")
    if not isinstance(data.get("sources"), list) or not isinstance(data.get("skipped"), list):
        raise DissError(f"{shard / 'items.json'} is malformed; delete {shard} and run prepare again")
    return data


def _write_shard(
    root: Path, index: int, size: int, sources: list[str], skipped: list[dict], arrays: list[tuple]
) -> None:
    shards = root / "shards"
    shards.mkdir(exist_ok=True)
    with replacing(shards / f"{index:05d}") as tmp:
        tmp.mkdir()
        for k, name in enumerate(("images", "sketches", "strokes")):
            if arrays:
                stacked = np.stack([a[k] for a in arrays])
            else:
                stacked = np.zeros((0, size, size, 3) if k != 1 else (0, size, size), np.uint8)
            np.save(tmp / f"{name}.npy", stacked)
        (tmp / "items.json").write_text(
            json.dumps({"sources": sources, "skipped": skipped}, indent=0), encoding="utf-8"
        )


@dataclass
class PrepareReport:
    """What one ``prepare`` run did."""

    total_sources: int = 0
    new: int = 0
    cached_before: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason), this run and earlier ones

    def summary(self) -> str:
        reasons = Counter(r.split(" (")[0].split(";")[0] for _, r in self.skipped)
        text = (
            f"{self.new + self.cached_before} images in the cache ({self.new} new, {self.cached_before} already there)"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + ", ".join(f"{n} {r}" for r, n in reasons.most_common())
        return text


def _check_or_write_manifest(root: Path, config: PrepareConfig, overwrite: bool) -> None:
    manifest = root / "cache.json"
    wanted = config.to_json()
    if manifest.exists() and overwrite:
        shutil.rmtree(root / "shards", ignore_errors=True)
        manifest.unlink()
    if manifest.exists():
        have = _read_json(manifest)
        if have != json.loads(json.dumps(wanted)):
            diff = sorted(k for k in set(have) | set(wanted) if have.get(k) != json.loads(json.dumps(wanted)).get(k))
            raise DissError(
                f"{root} holds a cache made with other settings ({', '.join(diff)} differ); "
                "use another folder or pass --overwrite to rebuild it"
            )
        return
    if any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise DissError(f"{root} is not empty and is not a diss cache; give an empty or new folder")
    write_json(manifest, wanted)


def prepare(
    src: str | os.PathLike,
    out: str | os.PathLike,
    config: PrepareConfig = PrepareConfig(),
    workers: int | None = None,
    overwrite: bool = False,
    shard_size: int = SHARD_SIZE,
    progress: bool = True,
    on_skip=None,
) -> PrepareReport:
    """Extract sketch and strokes from every image under ``src`` into the cache folder ``out`` (resumable)."""
    from tqdm import tqdm

    src = Path(src)
    if not src.is_dir():
        raise DissError(f"source folder {src} does not exist or is not a folder")
    if config.size < 8 or config.size > 1024:
        raise DissError(f"--size {config.size} is out of range; use 8 to 1024 (the models use 64 or 128)")
    paths = find_images(src)
    if not paths:
        raise DissError(f"no image files under {src} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    root = output_dir(out)
    _check_or_write_manifest(root, config, overwrite)
    remove_stale(root / "shards")  # half-written shards of a killed run
    report = PrepareReport(total_sources=len(paths))
    done: set[str] = set()
    shards = shard_dirs(root)
    for shard in shards:
        items = read_shard_items(shard)
        done.update(items["sources"])
        report.cached_before += len(items["sources"])
        for s in items["skipped"]:
            done.add(s["source"])
            report.skipped.append((s["source"], s["reason"]))
    todo = [(str(p), p.relative_to(src).as_posix(), config) for p in paths if p.relative_to(src).as_posix() not in done]
    next_index = int(shards[-1].name) + 1 if shards else 0
    buffer_sources: list[str] = []
    buffer_skipped: list[dict] = []
    buffer_arrays: list[tuple] = []

    def flush():
        nonlocal next_index
        if buffer_sources or buffer_skipped:
            _write_shard(root, next_index, config.size, list(buffer_sources), list(buffer_skipped), list(buffer_arrays))
            next_index += 1
            buffer_sources.clear(), buffer_skipped.clear(), buffer_arrays.clear()

    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(todo), desc="prepare", unit="img", disable=not progress, dynamic_ncols=True)
    with _executor(workers) as run:
        for source, result in run(_process, todo):
            if isinstance(result, str):
                buffer_skipped.append({"source": source, "reason": result})
                report.skipped.append((source, result))
                (on_skip or (lambda s, r: bar.write(f"skipped {s}: {r}")))(source, result)
            else:
                buffer_sources.append(source)
                buffer_arrays.append(result)
                report.new += 1
            bar.update(1)
            if len(buffer_sources) + len(buffer_skipped) >= shard_size:
                flush()
    flush()
    bar.close()
    return report


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would only contend


class _executor:
    """``map`` over a process pool (ordered, chunked), or in-process when ``workers`` is 1."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = None

    def __enter__(self):
        if self.workers <= 1:
            return lambda fn, jobs: map(fn, jobs)
        # spawn, not fork: forking a process that already runs threads (OpenCV, torch) can deadlock the children
        context = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
        return lambda fn, jobs: self.pool.map(fn, jobs, chunksize=8)

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)


def sample_cache(root: str | os.PathLike, n: int) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` (source, image, sketch, stroke) items spread evenly over a cache (for previews)."""
    shards = [(shard, read_shard_items(shard)["sources"]) for shard in shard_dirs(root)]
    total = sum(len(sources) for _, sources in shards)
    wanted = sorted(set(np.linspace(0, total - 1, num=min(n, total)).round().astype(int).tolist())) if total else []
    out, start = [], 0
    for shard, sources in shards:
        rows = [i - start for i in wanted if start <= i < start + len(sources)]
        if rows:
            arrays = [np.load(shard / f"{name}.npy", mmap_mode="r") for name in ("images", "sketches", "strokes")]
            out.extend((sources[r], *(np.array(a[r]) for a in arrays)) for r in rows)
        start += len(sources)
    return out
