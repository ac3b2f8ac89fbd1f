"""Batches straight from the uint8 image cache, augmented as whole batches on the training device.

The per-sample path (``AttributeImageDataset`` in a ``DataLoader``) pays a Python call, a
transform pipeline and a collate per image. Here a batch is one gather from the cached array,
one host→device copy of uint8 (4× less than float32), then augmentation on the device:

* ``hflip``: each image flipped with probability 0.5 (one ``torch.where``);
* ``pad_crop``: zero-pad by :func:`pad_pixels` and crop back at a random offset per image
  (one gather);
* ``randaugment``: torchvision.transforms.v2.RandAugment (2 ops, magnitude 9) on each
  image's uint8 tensor: ops are drawn per image, as in the per-sample path, so the loop is
  per image but on device tensors, with no decode;
* Mixup (``train.mixup_alpha`` > 0): one λ ~ Beta(α, α) per batch, images and labels mixed
  with a permutation of the batch; a label unknown (-1) in either image stays unknown.

The names are those of ``data.augment`` / ``train.mixup_alpha`` in the per-sample path, so a
config means the same augmentation whichever path runs it. Every random draw comes from
generators seeded with (seed, epoch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torchvision.transforms import v2

from l2l.data.loader import IMAGENET_MEAN, IMAGENET_STD, pad_pixels

BATCHED_AUGMENTATIONS = ("hflip", "pad_crop", "randaugment")
RESIDENT_BYTES = 2 << 30  # caches up to 2 GiB live on the training device; larger ones stay memory-mapped


def hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flip = torch.rand(len(x), device=x.device, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def pad_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad each side by ``pad`` and crop H×W at a random offset per image."""
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), device=x.device, generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), device=x.device, generator=gen)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # B×H×1
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # B×1×W
    bi = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bi, rows, cols].permute(0, 3, 1, 2)


_RANDAUGMENT = v2.RandAugment()


def randaugment(x: torch.Tensor) -> torch.Tensor:
    """RandAugment with ops drawn per image (v2 on a batch would apply one op draw to all)."""
    return torch.stack([_RANDAUGMENT(img) for img in x])


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator,
          gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(len(x), device=x.device, generator=gen)
    y2 = y[perm]
    mixed_y = torch.where((y < 0) | (y2 < 0), torch.full_like(y, -1.0), lam * y + (1 - lam) * y2)
    return lam * x + (1 - lam) * x[perm], mixed_y


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 in [0, 1] → ImageNet-normalised: the loader's ToDtype + Normalize."""
    x = v2.functional.to_dtype(x, torch.float32, scale=True)
    return v2.functional.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD))


class CachedBatches:
    """Iterable of (images, labels) batches on ``device`` read from cached uint8 arrays.

    ``parts`` are the cached arrays of the splits (concatenated logically, not copied);
    ``labels`` the matching float label rows. ``train``: shuffled and augmented, else in order. Small caches are copied to the device once;
    large ones are gathered per batch from the memory map and copied (pinned, non-blocking).
    """

    def __init__(self, parts: Sequence[np.ndarray], labels: np.ndarray, batch_size: int, device: torch.device,
                 augment: Sequence[str] = (), mixup_alpha: float = 0.0, channels_last: bool = False,
                 train: bool = False) -> None:
        unknown = sorted(set(augment) - set(BATCHED_AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; available: {BATCHED_AUGMENTATIONS}")
        self.device, self.batch_size, self.train = torch.device(device), batch_size, train
        self.augment, self.mixup_alpha, self.channels_last = list(augment), mixup_alpha, channels_last
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.float32)).to(self.device)
        self.image_size = tuple(parts[0].shape[2:])
        nbytes = sum(p.nbytes for p in parts)
        self.resident = None
        if nbytes <= RESIDENT_BYTES:
            self.resident = torch.cat([torch.from_numpy(np.array(p)) for p in parts]).to(self.device)
        self.parts = parts
        self._gen: torch.Generator | None = None
        self._rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def set_epoch_seed(self, seed: int) -> "CachedBatches":
        """Seed the order and augmentation draws of the next pass (called once per epoch)."""
        self._gen = torch.Generator(device=self.device).manual_seed(seed)
        self._rng = np.random.default_rng(seed)
        return self

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
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

    def _augment(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gen = self._gen
        if "randaugment" in self.augment:
            x = randaugment(x)
        if "pad_crop" in self.augment:
            x = pad_crop(x, pad_pixels(self.image_size), gen)
        if "hflip" in self.augment:
            x = hflip(x, gen)
        x = normalize(x)
        if self.mixup_alpha > 0:
            x, y = mixup(x, y, self.mixup_alpha, self._rng, gen)
        return x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self)
        if self.train:
            if self._gen is None:
                self.set_epoch_seed(0)
            order = torch.randperm(n, device=self.device, generator=self._gen)
        else:
            order = torch.arange(n, device=self.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            if self.train and len(idx) == 1 and n > 1:
                break  # a training batch of one breaks BatchNorm1d on logits (model.logit_bn); never trained on
            x, y = self._gather(idx), self.labels[idx]
            x, y = self._augment(x, y) if self.train else (normalize(x), y)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y
