"""The one loader for every prepared dataset: images as normalized tensors, labels with unknowns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from l2l.data.augment import AUGMENTATIONS, augment_batch, check_augment, pad_pixels  # noqa: F401 (re-exported)
from l2l.data.format import PreparedDataset
from l2l.data.images import read_image  # the one image-opening policy (pixel limit, errors)
from l2l.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def decode_image(path, image_size: Sequence[int]) -> torch.Tensor:
    """Decoded, resized uint8 C×H×W tensor: what every split (and ``l2l predict``) feeds the transform."""
    t = torch.from_numpy(np.asarray(read_image(path)).copy()).permute(2, 0, 1)
    return v2.functional.resize(t, list(image_size), antialias=True)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 in [0, 1] → ImageNet-normalised (one image or a batch)."""
    x = v2.functional.to_dtype(x, torch.float32, scale=True)
    return v2.functional.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD))


def build_transform(image_size: Sequence[int], augment: Sequence[str], train: bool,
                    randaugment_n: int = 2, randaugment_m: int = 13) -> v2.Compose:
    """Resize → (training: :func:`l2l.data.augment.augment_batch` on a batch of one) → normalise."""
    try:
        check_augment(augment)
    except ValueError as e:
        raise UserError(f"data.augment: {e}") from e
    steps: list = [v2.Resize(list(image_size), antialias=True)]
    if train and augment:
        steps.append(lambda img: augment_batch(img[None], augment, None, randaugment_n, randaugment_m)[0])
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(steps)


class AttributeImageDataset(Dataset):
    """(image tensor, label vector) pairs of one or more splits; labels use -1 for unknown.

    With ``preload`` every image is decoded once into a uint8 tensor, which makes
    small datasets (the embedded one) cost no decoding per epoch.
    """

    def __init__(self, data: PreparedDataset, splits: str | list[str], image_size: Sequence[int],
                 augment: Sequence[str] = (), train: bool = False, preload: bool = False) -> None:
        self.data = data
        self.index = data.indices(splits)
        if len(self.index) == 0:
            raise UserError(f"{data.root / 'labels.csv'}: split(s) {splits} have no images; "
                            f"check data.train_splits / val_split / test_split")
        self.labels = torch.from_numpy(data.labels[self.index].astype(np.float32))
        self.transform = build_transform(image_size, augment, train)
        self._cache = None
        if preload:
            self._cache = torch.stack([self._decode(i) for i in range(len(self.index))])

    def _decode(self, i: int) -> torch.Tensor:
        return decode_image(self.data.root / self.data.images[self.index[i]], self.transform.transforms[0].size)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = self._cache[i] if self._cache is not None else self._decode(i)
        return self.transform(img), self.labels[i]


class DecodedImages(AttributeImageDataset):
    """The decoded, resized uint8 image (no transform) and label of each sample: what a training
    batch is made of before :mod:`l2l.data.augment` and normalisation (the cache holds the same pixels)."""

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (self._cache[i] if self._cache is not None else self._decode(i)), self.labels[i]
