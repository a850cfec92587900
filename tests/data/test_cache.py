import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import bad_files, odd_but_valid_files
from diss.data.cache import PrepareConfig, prepare, read_manifest, read_shard_items, sample_cache, shard_dirs
from diss.errors import DissError
from diss.outputs import TEMPORARY_GLOB

CFG = PrepareConfig(size=32)


def cache_contents(root):
    """{source: (image, sketch, stroke)} of a cache."""
    out = {}
    for shard in shard_dirs(root):
        sources = read_shard_items(shard)["sources"]
        arrays = [np.load(shard / f"{n}.npy") for n in ("images", "sketches", "strokes")]
        for i, s in enumerate(sources):
            assert s not in out, f"{s} is in the cache twice"
            out[s] = tuple(a[i] for a in arrays)
    return out


def test_prepare_writes_a_documented_cache(photo_dir, tmp_path):
    out = tmp_path / "cache"
    out.mkdir()
    report = prepare(photo_dir, out, CFG, workers=1, progress=False)
    assert report.new == 5 and not report.skipped
    manifest = read_manifest(out)
    assert manifest["size"] == 32 and manifest["format"] == "diss-cache"
    contents = cache_contents(out)
    assert sorted(contents) == [
        "astronaut.png",
        "chelsea.webp",
        "coffee.jpg",
        "rocket.bmp",
        "sub/immunohistochemistry.png",
    ]
    image, sketch, stroke = contents["coffee.jpg"]
    assert image.shape == (32, 32, 3) and sketch.shape == (32, 32) and stroke.shape == (32, 32, 3)
    assert image.dtype == sketch.dtype == stroke.dtype == np.uint8
    assert len(sample_cache(out, 3)) == 3


def test_rerun_skips_finished_work_and_is_deterministic(photo_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    prepare(photo_dir, a, CFG, workers=1, progress=False, shard_size=2)
    again = prepare(photo_dir, a, CFG, workers=1, progress=False, shard_size=2)
    assert again.new == 0 and again.cached_before == 5
    prepare(photo_dir, b, CFG, workers=2, progress=False)  # other worker count and shard size: same content
    ca, cb = cache_contents(a), cache_contents(b)
    assert ca.keys() == cb.keys()
    for k in ca:
        for x, y in zip(ca[k], cb[k], strict=True):
            assert np.array_equal(x, y)


def test_new_files_are_added_on_rerun(photo_dir, tmp_path, photos):
    out = tmp_path / "c"
    out.mkdir()
    prepare(photo_dir, out, CFG, workers=1, progress=False)
    Image.fromarray(photos["rocket"][::-1]).save(photo_dir / "new.png")
    report = prepare(photo_dir, out, CFG, workers=1, progress=False)
    assert report.new == 1 and len(cache_contents(out)) == 6


def test_bad_files_are_skipped_with_reasons_and_the_run_finishes(photo_dir, tmp_path, photos):
    rgb = photos["coffee"]
    for name, data in {**bad_files(rgb), **odd_but_valid_files(rgb)}.items():
        (photo_dir / name).write_bytes(data)
    Image.fromarray(rgb[:20, :20]).save(photo_dir / "small.png")
    out = tmp_path / "c"
    out.mkdir()
    seen = []
    report = prepare(photo_dir, out, CFG, workers=2, progress=False, on_skip=lambda s, r: seen.append(s))
    skipped = dict(report.skipped)
    assert set(skipped) == {"zero.png", "text.png", "truncated.png", "truncated.jpg", "bomb.png", "small.png"}
    assert set(seen) == set(skipped)
    assert "smaller than --size" in skipped["small.png"]
    assert report.new == 5 + 7  # the odd-but-valid modes are all used
    summary = report.summary()
    assert "skipped 6" in summary and "empty file" in summary
    # a re-run counts them again without re-reading them
    again = prepare(photo_dir, out, CFG, workers=1, progress=False)
    assert again.new == 0 and len(again.skipped) == 6
    upscaled = tmp_path / "u"
    upscaled.mkdir()
    r = prepare(photo_dir, upscaled, PrepareConfig(size=32, allow_upscale=True), workers=1, progress=False)
    assert "small.png" not in dict(r.skipped)


def test_other_settings_are_refused(photo_dir, tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    prepare(photo_dir, out, CFG, workers=1, progress=False)
    with pytest.raises(DissError, match="other settings.*size"):
        prepare(photo_dir, out, PrepareConfig(size=48), workers=1, progress=False)
    report = prepare(photo_dir, out, PrepareConfig(size=48), workers=1, progress=False, overwrite=True)
    assert report.new == 5 and read_manifest(out)["size"] == 48


def test_foreign_and_empty_inputs(photo_dir, tmp_path):
    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("mine")
    with pytest.raises(DissError, match="not empty and is not a diss cache"):
        prepare(photo_dir, foreign, CFG, progress=False)
    assert (foreign / "thesis.txt").read_text() == "mine"
    empty_src = tmp_path / "empty"
    empty_src.mkdir()
    with pytest.raises(DissError, match="no image files"):
        prepare(empty_src, tmp_path / "c2", CFG, progress=False)
    with pytest.raises(DissError, match="does not exist"):
        read_manifest(tmp_path / "nowhere")
    with pytest.raises(DissError, match="not a diss cache"):
        read_manifest(foreign)
    (foreign / "cache.json").write_text("{broken")
    with pytest.raises(DissError, match="not valid JSON"):
        read_manifest(foreign)


KILL_SCRIPT = """
import sys
from diss.data.cache import PrepareConfig, prepare
prepare(sys.argv[1], sys.argv[2], PrepareConfig(size=32), workers=1, progress=False, shard_size=3)
"""


@pytest.mark.slow
def test_a_kill_mid_run_loses_nothing_written(tmp_path, photos):
    src = tmp_path / "many"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        base = list(photos.values())[i % 5]
        Image.fromarray(np.clip(base.astype(int) + rng.integers(-20, 20, 3), 0, 255).astype(np.uint8)).save(
            src / f"img{i:03d}.png"
        )
    out = tmp_path / "c"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(src), str(out)], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and len(shard_dirs(out)) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = cache_contents(out)  # every complete shard is readable
    assert 3 <= len(before) < 60
    report = prepare(src, out, PrepareConfig(size=32), workers=1, progress=False, shard_size=3)
    assert report.cached_before == len(before) and report.new == 60 - len(before)
    after = cache_contents(out)
    assert len(after) == 60
    for k, v in before.items():
        assert all(np.array_equal(x, y) for x, y in zip(v, after[k], strict=True))
    assert not list((out / "shards").glob(TEMPORARY_GLOB))
    assert json.loads((out / "cache.json").read_text())["size"] == 32
