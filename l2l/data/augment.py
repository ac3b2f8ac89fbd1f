"""Training augmentations: one implementation for every data source, applied to uint8 batches.

Both sources (decoded image files and the uint8 cache, :mod:`l2l.data.batched`) hand the training
loop uint8 B×3×H×W batches; :func:`augment_batch` applies the augmentations of ``data.augment`` in
the order ``data.augment_order`` says (``fixed``: the one order of :data:`AUGMENTATIONS`, whatever
order the config lists them in; ``listed``: the list's order), then the batch is normalised. The per-sample transform of :func:`l2l.data.loader.build_transform` calls the
same function on a batch of one, so there is no second implementation to drift.

Fixed order: ``pad_crop`` → ``hflip`` → ``randaugment`` / ``randaugment_official`` (the geometric crop
and flip of the official PA-100K transform first, then RandAugment on the uint8 pixels). The official
LFWA code applies RandAugment *before* its flip (``dataset.py`` inserts it at position 0): its recipe
lists ``[randaugment_official, hflip]`` and the official protocol sets ``augment_order: listed``.

Randomness: ``pad_crop`` and ``hflip`` draw from ``gen`` (seeded per (seed, epoch) by the loop; None:
torch's global generator); RandAugment draws from torch's global generator, which the engine also
seeds per (seed, epoch), so an epoch's augmentations are resume-exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

AUGMENTATIONS = ("pad_crop", "hflip", "randaugment", "randaugment_official")  # the fixed application order
AUGMENT_ORDERS = ("fixed", "listed")

_RANDAUGMENT = v2.RandAugment()  # torchvision defaults: 2 ops, magnitude 9


def check_augment(augment: Sequence[str]) -> None:
    """Raise ValueError naming unknown augmentation names (callers turn it into a UserError)."""
    unknown = sorted(set(augment) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; available: {AUGMENTATIONS}")


def pad_pixels(image_size: Sequence[int]) -> int:
    """Padding of ``pad_crop``: 10 px at 192 px (the PA-100K baseline's Pad(10) at 256x192), scaled with the image."""
    return max(1, round(10 * min(image_size) / 192))


def hflip(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Each image flipped left-right with probability 0.5."""
    flip = torch.rand(len(x), device=x.device, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def pad_crop(x: torch.Tensor, pad: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """Zero-pad each side by ``pad`` and crop H×W back at a random offset per image."""
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), device=x.device, generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), device=x.device, generator=gen)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # B×H×1
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # B×1×W
    bi = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bi, rows, cols].permute(0, 3, 1, 2)


def per_image(x: torch.Tensor, op: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply ``op`` to each uint8 C×H×W image (RandAugment draws its ops per image, not per batch)."""
    return torch.stack([op(img) for img in x])


def official_op(n: int, m: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The authors' RandAugment operation list (l2l.data.official_augment), imported only when used."""
    from l2l.data.official_augment import official_randaugment

    return official_randaugment(n, m)


def application_order(augment: Sequence[str], order: str) -> list[str]:
    """The names of ``augment`` in the order they are applied (``data.augment_order``)."""
    check_augment(augment)
    if order == "fixed":
        return [a for a in AUGMENTATIONS if a in augment]
    if order == "listed":
        return list(dict.fromkeys(augment))
    raise ValueError(f"unknown augmentation order '{order}'; choose one of {AUGMENT_ORDERS}")


def augment_batch(x: torch.Tensor, augment: Sequence[str], gen: torch.Generator | None = None,
                  randaugment_n: int = 2, randaugment_m: int = 13, order: str = "fixed") -> torch.Tensor:
    """uint8 B×3×H×W → uint8 B×3×H×W with ``augment`` applied in ``order`` (:func:`application_order`)."""
    for name in application_order(augment, order):
        if name == "pad_crop":
            x = pad_crop(x, pad_pixels(x.shape[-2:]), gen)
        elif name == "hflip":
            x = hflip(x, gen)
        elif name == "randaugment":
            x = per_image(x, _RANDAUGMENT)
        else:  # randaugment_official
            x = per_image(x, official_op(randaugment_n, randaugment_m))
    return x
