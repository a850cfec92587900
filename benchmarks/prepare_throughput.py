"""`diss prepare` throughput (images/s) and cache size per image, at several sizes, in one run.

    python benchmarks/prepare_throughput.py [PHOTOS_DIR] [--n 800] [--sizes 64 128] [--workers N]

Copies (links) the first N photos of PHOTOS_DIR into a temporary folder, prepares a fresh cache at each size, and prints
images/s, the ratio to the project's target (20 images/s at 64 px on 2 cores) and the cache's bytes per image.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from diss.data.cache import PrepareConfig, prepare
from diss.data.images import find_images

TARGET_64 = 20.0


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", nargs="?", default=str(here.parent / "shared" / "data" / "flowers"))
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    files = find_images(args.photos)[: args.n]
    total_in_folder = len(find_images(args.photos))
    print(f"{len(files)} photos from {args.photos}, {args.workers} worker(s), {os.cpu_count()} core(s)")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for f in files:
            os.symlink(f.resolve(), src / f.name)
        for size in args.sizes:
            out = Path(tmp) / f"cache{size}"
            t0 = time.perf_counter()
            report = prepare(src, out, PrepareConfig(size=size), workers=args.workers, progress=False)
            seconds = time.perf_counter() - t0
            rate = report.new / seconds
            per_image = folder_bytes(out) / max(report.new, 1)
            print(
                f"size {size:4d}: {rate:6.1f} images/s ({report.new} in {seconds:.1f} s), "
                f"ratio to the 64px target {rate / TARGET_64:.2f}x, cache {per_image / 1024:.1f} KiB/image, "
                f"whole folder ({total_in_folder}) ~{per_image * total_in_folder / 2**20:.0f} MiB "
                f"in ~{total_in_folder / rate / 60:.1f} min"
            )


if __name__ == "__main__":
    main()
