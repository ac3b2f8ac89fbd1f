"""Mixup (Zhang et al., 2018) for multi-label batches with unknown labels: the one implementation.

A batch is mixed with probability ``prob`` (the official LFWA code: 0.2; 1.0 = every batch) with one
λ ~ Beta(α, α) and a random pairing. A label unknown (-1) in either image of a pair stays unknown
in the mix, so the masked BCE keeps excluding it; known labels become soft targets λy + (1-λ)y'
(for BCE the same loss as the official λ·BCE(y) + (1-λ)·BCE(y')).

RNG policy: every draw comes from one ``numpy.random.Generator`` that the training loop seeds with
the epoch seed (seed, epoch) and passes in; per batch it draws, in this order, the apply coin (only
when prob < 1), λ, and the permutation. The draws are on the host, so a seed gives the same mixes on
CPU and GPU and on either data source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Mix:
    """One batch's mix: image i is blended with image perm[i] with weight lam."""

    lam: float
    perm: torch.Tensor


def draw_mix(batch_size: int, alpha: float, rng: np.random.Generator, prob: float = 1.0) -> Mix | None:
    """The mix of one batch, or None when Mixup is off (alpha <= 0) or the coin says no."""
    if alpha <= 0 or prob <= 0:
        return None
    if prob < 1.0 and rng.random() >= prob:
        return None
    lam = float(rng.beta(alpha, alpha))
    return Mix(lam, torch.from_numpy(rng.permutation(batch_size)))


def apply_mix(images: torch.Tensor, labels: torch.Tensor, mix: Mix | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mixed images, mixed labels with -1 where either source label is unknown)."""
    if mix is None:
        return images, labels
    perm = mix.perm.to(images.device)
    other = labels[perm]
    known = (labels >= 0) & (other >= 0)
    mixed = torch.where(known, mix.lam * labels + (1 - mix.lam) * other, torch.full_like(labels, -1.0))
    return mix.lam * images + (1 - mix.lam) * images[perm], mixed

