"""The official LFWA RandAugment (``Face_Attribute/augmentations.py``), on uint8 C×H×W tensors.

The authors' RandAugment is not torchvision's: it draws ``n`` operations with replacement from its own
list of 11, tuned for faces (no colour inversion, posterize or solarize; Cutout included), and applies
each at the fixed magnitude ``m`` on a 0-30 scale: value = m/30 · (max - min) + min. Geometric
operations flip the sign of their value with probability 1/2; the enhance operations use the value
as their factor as is (so at m = 13 contrast, brightness and sharpness are always 0.88).

This module is our own implementation of that list with ``torchvision.transforms.v2.functional``,
except Rotate, which calls PIL's ``Image.rotate`` as the official code does (torchvision's rotation
samples other pixels at the edges: 0.16 % of the pixels of a face image differed, by up to 169 grey
levels); each other operation matches PIL's to within one grey level on test images (autocontrast and
contrast round differently; shear and translate match exactly), and Cutout draws its random position
from torch, not numpy as the official code does. Randomness comes from torch's
global RNG, or from the ``generator`` given, so a seeded run draws the same augmentations.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torchvision.transforms.v2 import functional as F

MAX_MAGNITUDE = 30
CUTOUT_COLOR = (125, 123, 114)  # the official Cutout's fill (an ImageNet-mean grey)

Op = Callable[[torch.Tensor, float, torch.Generator | None], torch.Tensor]


def _coin(generator: torch.Generator | None) -> bool:
    return bool(torch.rand(1, generator=generator).item() > 0.5)


def _signed(value: float, generator: torch.Generator | None) -> float:
    """The official geometric ops negate their value with probability 1/2."""
    return -value if _coin(generator) else value


def auto_contrast(img: torch.Tensor, _: float, __: torch.Generator | None) -> torch.Tensor:
    return F.autocontrast(img)


def equalize(img: torch.Tensor, _: float, __: torch.Generator | None) -> torch.Tensor:
    return F.equalize(img)


def rotate(img: torch.Tensor, degrees: float, g: torch.Generator | None) -> torch.Tensor:
    """``Image.rotate(v)`` as the official ``Rotate``: counter-clockwise about the centre, nearest
    neighbour, black fill, same size, done by PIL itself (a round trip through a PIL image)."""
    return F.pil_to_tensor(F.to_pil_image(img).rotate(_signed(degrees, g)))


def contrast(img: torch.Tensor, factor: float, _: torch.Generator | None) -> torch.Tensor:
    return F.adjust_contrast(img, factor)


def brightness(img: torch.Tensor, factor: float, _: torch.Generator | None) -> torch.Tensor:
    return F.adjust_brightness(img, factor)


def sharpness(img: torch.Tensor, factor: float, _: torch.Generator | None) -> torch.Tensor:
    return F.adjust_sharpness(img, factor)


def _affine(img: torch.Tensor, translate: list[float], shear: list[float]) -> torch.Tensor:
    """PIL's ``transform(AFFINE)`` about the top-left corner, nearest neighbour, black fill."""
    return F.affine(img, angle=0.0, translate=translate, scale=1.0, shear=shear, center=[0, 0])


def shear_x(img: torch.Tensor, v: float, g: torch.Generator | None) -> torch.Tensor:
    """Output pixel (x, y) reads input (x + v·y, y), as PIL's affine (1, v, 0, 0, 1, 0)."""
    return _affine(img, [0.0, 0.0], [math.degrees(math.atan(_signed(v, g))), 0.0])


def shear_y(img: torch.Tensor, v: float, g: torch.Generator | None) -> torch.Tensor:
    """Output pixel (x, y) reads input (x, y + v·x), as PIL's affine (1, 0, 0, v, 1, 0)."""
    return _affine(img, [0.0, 0.0], [0.0, math.degrees(math.atan(_signed(v, g)))])


def translate_x(img: torch.Tensor, pixels: float, g: torch.Generator | None) -> torch.Tensor:
    """Shift by ``pixels`` (absolute, not a fraction of the width: the official ``TranslateXabs``)."""
    return F.affine(img, angle=0.0, translate=[-_signed(pixels, g), 0.0], scale=1.0, shear=[0.0, 0.0])


def translate_y(img: torch.Tensor, pixels: float, g: torch.Generator | None) -> torch.Tensor:
    return F.affine(img, angle=0.0, translate=[0.0, -_signed(pixels, g)], scale=1.0, shear=[0.0, 0.0])


def cutout(img: torch.Tensor, size: float, g: torch.Generator | None) -> torch.Tensor:
    """A size×size grey square (``CutoutAbs``): its corner is a uniform point minus size/2, clipped to
    the image, so squares near an edge are cut short; PIL's rectangle includes its far edge."""
    h, w = img.shape[-2:]
    cx, cy = (torch.rand(2, generator=g) * torch.tensor([w, h])).tolist()
    x0, y0 = int(max(0.0, cx - size / 2)), int(max(0.0, cy - size / 2))
    x1, y1 = min(w - 1, int(x0 + size)), min(h - 1, int(y0 + size))
    out = img.clone()
    color = torch.tensor(CUTOUT_COLOR, dtype=img.dtype)[:, None, None]
    out[..., y0:y1 + 1, x0:x1 + 1] = color
    return out


# (operation, min, max) in the official order; the value at magnitude m is m/30 · (max - min) + min
OPERATIONS: list[tuple[Op, float, float]] = [
    (auto_contrast, 0, 1),
    (equalize, 0, 1),
    (rotate, 0, 30),
    (contrast, 0.1, 1.9),
    (brightness, 0.1, 1.9),
    (sharpness, 0.1, 1.9),
    (shear_x, 0.0, 0.3),
    (shear_y, 0.0, 0.3),
    (cutout, 0, 40),
    (translate_x, 0.0, 100),
    (translate_y, 0.0, 100),
]


def magnitude_value(m: int, low: float, high: float) -> float:
    return m / MAX_MAGNITUDE * (high - low) + low


class OfficialRandAugment:
    """``n`` operations drawn with replacement from :data:`OPERATIONS`, each at magnitude ``m``."""

    def __init__(self, n: int, m: int, generator: torch.Generator | None = None) -> None:
        if n < 0 or not 0 <= m <= MAX_MAGNITUDE:
            raise ValueError(f"official RandAugment needs n >= 0 and 0 <= m <= {MAX_MAGNITUDE}, got n={n}, m={m}")
        self.n, self.m, self.generator = n, m, generator

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.dtype != torch.uint8 or img.dim() != 3 or img.shape[0] != 3:
            raise ValueError(f"official RandAugment takes one uint8 3×H×W image, got {img.dtype} "
                             f"{tuple(img.shape)}")
        picks = torch.randint(len(OPERATIONS), (self.n,), generator=self.generator).tolist()
        for i in picks:
            op, low, high = OPERATIONS[i]
            img = op(img, magnitude_value(self.m, low, high), self.generator)
        return img

    def __repr__(self) -> str:
        return f"OfficialRandAugment(n={self.n}, m={self.m})"


def official_randaugment(n: int, m: int, generator: torch.Generator | None = None
                         ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The official LFWA RandAugment (``--randAug --n 2 --m 13``) as a callable on uint8 3×H×W tensors."""
    return OfficialRandAugment(n, m, generator)
