import numpy as np
import pytest
import torch

from diss.data.augment import AugmentConfig
from diss.data.cache import PrepareConfig, prepare
from diss.data.dataset import SketchStrokeDataset
from diss.errors import DissError


@pytest.fixture
def cache(photo_dir, tmp_path):
    out = tmp_path / "cache"
    prepare(photo_dir, out, PrepareConfig(size=32), workers=1, progress=False, shard_size=2)
    return out


def test_items_are_tensors_in_model_range(cache):
    ds = SketchStrokeDataset(cache, size=32)
    assert len(ds) == 5 and len(ds.sources) == 5
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and item["sketch"].shape == (1, 32, 32)
    assert item["stroke"].shape == (3, 32, 32)
    for t in item.values():
        assert t.dtype == torch.float32 and t.min() >= -1 and t.max() <= 1
    assert item["sketch"].max() == 1.0 and item["sketch"].min() < 0  # white paper, dark lines
    assert torch.equal(ds[-1]["image"], ds[4]["image"])
    with pytest.raises(IndexError):
        ds[5]


def test_in_memory_equals_memory_mapped(cache):
    a, b = SketchStrokeDataset(cache), SketchStrokeDataset(cache, in_memory=True)
    for i in range(len(a)):
        assert all(torch.equal(a[i][k], b[i][k]) for k in ("image", "sketch", "stroke"))


def test_augmentation_is_seeded_by_epoch_and_index(cache):
    ds = SketchStrokeDataset(cache, augmentation=AugmentConfig(), seed=1)
    plain = SketchStrokeDataset(cache)
    first = [ds[i]["sketch"] for i in range(5)]
    again = [ds[i]["sketch"] for i in range(5)]
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))
    assert any(not torch.equal(x, plain[i]["sketch"]) for i, x in enumerate(first))
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i]["sketch"], first[i]) for i in range(5))


def test_works_with_a_dataloader(cache):
    loader = torch.utils.data.DataLoader(SketchStrokeDataset(cache), batch_size=4, shuffle=False)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 32, 32)


def test_wrong_size_empty_and_damaged_caches(cache, tmp_path):
    with pytest.raises(DissError, match="holds 32px images but --size is 64"):
        SketchStrokeDataset(cache, size=64)
    with pytest.raises(DissError, match="not a diss cache"):
        SketchStrokeDataset(tmp_path)
    shard = sorted((cache / "shards").iterdir())[0]
    np.save(shard / "images.npy", np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(DissError, match="does not match"):
        SketchStrokeDataset(cache)
    (shard / "sketches.npy").write_bytes(b"garbage")
    with pytest.raises(DissError, match="damaged"):
        SketchStrokeDataset(cache)
    empty = tmp_path / "empty"
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.png").write_bytes(b"")
    prepare(src, empty, PrepareConfig(size=32), workers=1, progress=False)
    with pytest.raises(DissError, match="holds no images"):
        SketchStrokeDataset(empty)
