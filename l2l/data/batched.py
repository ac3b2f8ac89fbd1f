"""The one data interface of the training loop: (images, labels) batches on the device.

Two sources hold the same uint8 pixels (decode + antialiased resize of each image file):

* :class:`CachedImages`: the prepare-time uint8 cache (``data.cache: true``, :mod:`l2l.data.cache`);
  a batch is one gather (from device memory when the cache fits in ``RESIDENT_BYTES``, else from the
  memory map), one host→device copy of uint8;
* :class:`FileImages`: the image files, decoded per sample in a ``DataLoader`` (``num_workers``),
  optionally preloaded once into memory (small datasets).

:class:`Batches` turns either into batches, the same way for both:

* order: training shuffles with a generator on the device seeded with the epoch seed; evaluation
  keeps the split's order;
* a training batch of one (the last one, when the split size is 1 mod the batch size) is **dropped**,
  whatever the model: BatchNorm1d on logits (``model.logit_bn``) cannot train on one sample, and a
  one-sample step would be noise anyway. Evaluation keeps every sample;
* training batches are augmented on the device by :func:`l2l.data.augment.augment_batch` (one order,
  pad_crop → hflip → randaugment, or the listed order), then normalised; ``channels_last`` last.

Mixup is not applied here: the loop applies :func:`l2l.data.mixup.draw_mix` and :func:`~l2l.data.mixup.apply_mix` (it needs the pairing
to feed the label-embedding mix to the model).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from l2l.data.augment import (AUGMENTATIONS, application_order, augment_batch, check_augment, hflip,  # noqa: F401
                              pad_crop, pad_pixels)
from l2l.data.loader import DecodedImages, normalize

RESIDENT_BYTES = 2 << 30  # caches up to 2 GiB live on the training device; larger ones stay memory-mapped


class CachedImages:
    """uint8 rows of cached arrays (the splits' parts, concatenated logically, not copied)."""

    def __init__(self, parts: Sequence[np.ndarray], device: torch.device) -> None:
        self.parts, self.device = parts, torch.device(device)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.image_size = tuple(parts[0].shape[2:])
        self.resident = None
        if sum(p.nbytes for p in parts) <= RESIDENT_BYTES:
            self.resident = torch.cat([torch.from_numpy(np.array(p)) for p in parts]).to(self.device)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        if self.resident is not None:
            return self.resident[idx.to(self.device)]
        idx_np = idx.cpu().numpy()
        part = np.searchsorted(self.offsets, idx_np, side="right") - 1
        out = torch.empty((len(idx_np), 3, *self.image_size), dtype=torch.uint8,
                          pin_memory=self.device.type == "cuda")
        for p in np.unique(part):
            sel = np.flatnonzero(part == p)
            local = idx_np[sel] - self.offsets[p]
            order = np.argsort(local)  # sorted reads from the memory map
            out[torch.from_numpy(sel[order])] = torch.from_numpy(self.parts[p][local[order]])
        return out.to(self.device, non_blocking=True)

    def batches(self, index_batches: list[torch.Tensor]) -> Iterator[torch.Tensor]:
        return (self.gather(idx) for idx in index_batches)


class FileImages:
    """uint8 images decoded from the files (per sample, in ``num_workers`` DataLoader workers)."""

    def __init__(self, dataset: DecodedImages, device: torch.device, num_workers: int = 0) -> None:
        self.dataset, self.device, self.num_workers = dataset, torch.device(device), num_workers

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(self, index_batches: list[torch.Tensor]) -> Iterator[torch.Tensor]:
        sampler = [idx.cpu().tolist() for idx in index_batches]
        # a private generator: a DataLoader otherwise draws its worker base seed from torch's global RNG,
        # which would shift the epoch's RandAugment, dropout and mask draws against the cached source
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.num_workers,
                            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(0))
        return (x.to(self.device, non_blocking=True) for x, _ in loader)


class Batches:
    """Iterable of (images, labels) on ``device`` from either source (see the module docstring)."""

    def __init__(self, images: CachedImages | FileImages, labels: np.ndarray, batch_size: int,
                 device: torch.device, train: bool = False, augment: Sequence[str] = (),
                 channels_last: bool = False, randaugment_n: int = 2, randaugment_m: int = 13,
                 augment_order: str = "fixed") -> None:
        check_augment(augment)
        self.images, self.batch_size, self.train = images, batch_size, train
        self.device = torch.device(device)
        self.augment, self.channels_last = list(augment), channels_last
        self.randaugment = (randaugment_n, randaugment_m)
        application_order(augment, augment_order)  # an unknown order fails here, not at the first batch
        self.augment_order = augment_order
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.float32)).to(self.device)
        self._gen: torch.Generator | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_batches(self) -> int:
        """Batches per pass (what a progress bar counts); ``len()`` counts samples."""
        n = len(self)
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest and not (self.train and n > 1 and rest == 1) else 0)

    def set_epoch_seed(self, seed: int) -> "Batches":
        """Seed the order and augmentation draws of the next pass (called once per epoch)."""
        self._gen = torch.Generator(device=self.device).manual_seed(seed)
        return self

    def index_batches(self) -> list[torch.Tensor]:
        """The pass's index batches: shuffled in training (a final batch of one dropped), else in order."""
        n = len(self)
        if not self.train:
            order = torch.arange(n, device=self.device)
        else:
            if self._gen is None:
                self.set_epoch_seed(0)
            order = torch.randperm(n, device=self.device, generator=self._gen)
        out = [order[s:s + self.batch_size] for s in range(0, n, self.batch_size)]
        if self.train and n > 1 and len(out[-1]) == 1:
            out.pop()  # the training batch-of-one policy (module docstring)
        return out

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx_batches = self.index_batches()
        for idx, x in zip(idx_batches, self.images.batches(idx_batches)):
            if self.train:
                x = augment_batch(x, self.augment, self._gen, *self.randaugment, order=self.augment_order)
            x = normalize(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx.to(self.device)]


def CachedBatches(parts: Sequence[np.ndarray], labels: np.ndarray, batch_size: int, device: torch.device,
                  augment: Sequence[str] = (), channels_last: bool = False, train: bool = False) -> Batches:
    """Batches of cached arrays (shorthand used by benchmarks and tests)."""
    return Batches(CachedImages(parts, device), labels, batch_size, device, train=train, augment=augment,
                   channels_last=channels_last)
