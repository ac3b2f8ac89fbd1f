"""Mixup (Zhang et al., 2018) for multi-label batches with unknown labels.

Images and labels are mixed with one lambda ~ Beta(alpha, alpha) per batch and a random pairing.
A label unknown (-1) in either image of a pair stays unknown in the mix, so the masked BCE keeps
excluding it; known labels become soft targets lam*y + (1-lam)*y'. Randomness comes from torch's
global generator, which the engine seeds per (seed, epoch).
"""

from __future__ import annotations

import torch


def mixup(images: torch.Tensor, labels: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mixed images, mixed labels with -1 where either source label is unknown)."""
    if alpha <= 0:
        return images, labels
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(images.shape[0]).to(images.device)
    other = labels[perm]
    known = (labels >= 0) & (other >= 0)
    mixed = torch.where(known, lam * labels + (1 - lam) * other, torch.full_like(labels, -1.0))
    return lam * images + (1 - lam) * images[perm], mixed
