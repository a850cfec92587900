"""A torch Dataset over a ``diss prepare`` cache: (image, sketch, stroke) tensors in [-1, 1], optionally augmented."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from diss.conventions import to_model
from diss.data.augment import AugmentConfig
from diss.data.augment import augment as augment_triple
from diss.data.cache import read_manifest, read_shard_items, shard_dirs
from diss.errors import DissError


class SketchStrokeDataset(Dataset):
    """Items are dicts ``{"image": (3, S, S), "sketch": (1, S, S), "stroke": (3, S, S)}`` of float32 in [-1, 1].

    Arrays are memory-mapped (``in_memory=True`` copies them to RAM). Augmentation is seeded by (seed, epoch, index):
    call ``set_epoch`` each epoch, and a resumed run sees exactly the same augmented data.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        augmentation: AugmentConfig | None = None,
        seed: int = 0,
        size: int | None = None,
        in_memory: bool = False,
    ):
        self.root = Path(root)
        manifest = read_manifest(self.root)
        self.size: int = manifest["size"]
        if size is not None and size != self.size:
            raise DissError(
                f"cache {self.root} holds {self.size}px images but --size is {size}; "
                f"prepare a cache with --size {size} or train with --size {self.size}"
            )
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0
        self.sources: list[str] = []
        self._arrays: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        index = []
        for k, shard in enumerate(shard_dirs(self.root)):
            sources = read_shard_items(shard)["sources"]
            try:
                arrays = tuple(np.load(shard / f"{n}.npy", mmap_mode="r") for n in ("images", "sketches", "strokes"))
            except (OSError, ValueError) as e:
                raise DissError(f"shard {shard} is damaged ({e}); delete it and run diss prepare again") from None
            expected = (
                (len(sources), self.size, self.size, 3),
                (len(sources), self.size, self.size),
                (len(sources), self.size, self.size, 3),
            )
            if tuple(a.shape for a in arrays) != expected or any(a.dtype != np.uint8 for a in arrays):
                raise DissError(f"shard {shard} does not match its cache ({self.size}px); delete it and prepare again")
            if in_memory:
                arrays = tuple(np.array(a) for a in arrays)
            self._arrays.append(arrays)
            self.sources.extend(sources)
            index.extend((k, i) for i in range(len(sources)))
        if not index:
            raise DissError(f"cache {self.root} holds no images; run diss prepare on a folder of photos first")
        self._index = np.asarray(index, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def arrays(
        self, i: int, epoch: int | None = None, augment: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """uint8 (image, sketch, stroke) of item ``i``, augmented (seeded by seed, epoch, i) if the dataset augments."""
        k, row = self._index[i]
        image, sketch, stroke = (np.array(a[row]) for a in self._arrays[k])  # copies: memmaps are read-only
        if augment and self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch if epoch is None else int(epoch), int(i)])
            image, sketch, stroke = augment_triple(image, sketch, stroke, rng, self.augmentation)
        return image, sketch, stroke

    def item(self, i: int, epoch: int | None = None, augment: bool = True) -> dict[str, torch.Tensor]:
        """Item ``i`` as model-range tensors, for ``epoch`` (default: the one set by ``set_epoch``)."""
        image, sketch, stroke = self.arrays(i, epoch, augment)
        return {"image": to_model(image), "sketch": to_model(sketch), "stroke": to_model(stroke)}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.item(i % len(self))
