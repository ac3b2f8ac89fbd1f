"""95 % bootstrap confidence intervals: over seeds (one cell's mean) and, paired, over test images (the
difference of two methods trained on the same seeds). Percentile bootstrap, resampling with a generator
seeded from the config (``bootstrap.seed``), so the same runs always give the same interval.

The verdict a summary reads from an interval: the paper's number is "consistent" with ours when it lies
inside our interval of the mean, "not consistent" when outside; with fewer seeds than
``bootstrap.min_seeds`` the interval of a mean over so few values is far too narrow to mean anything
(three seeds have ten distinct resamples), so the verdict says the n is too small to tell instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
METHOD = "percentile bootstrap of the mean over seeds (95 %)"
PAIRED_METHOD = "paired percentile bootstrap over test images, same images and seeds for both methods (95 %)"


@dataclass(frozen=True)
class Bootstrap:
    """``bootstrap`` of the experiment config: seed, resamples, fewest seeds for a verdict."""

    seed: int = 0
    samples: int = 10000
    min_seeds: int = 3


def mean_ci(values: Sequence[float], boot: Bootstrap) -> tuple[float, float]:
    """(low, high) of the 95 % percentile bootstrap interval of the mean; NaNs for fewer than two values."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if len(x) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(boot.seed)
    means = x[rng.integers(0, len(x), size=(boot.samples, len(x)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


def paired_image_ci(a: np.ndarray, b: np.ndarray, boot: Bootstrap) -> tuple[float, float, float]:
    """Mean over seeds of (A − B) and its 95 % interval, resampling test images (rows of the seeds × images
    matrices ``a`` and ``b``: one per-image value per seed, the same images in the same order)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired bootstrap needs two seeds × images matrices of one shape, got {a.shape} and {b.shape}")
    diff = (a - b).mean(axis=0)  # per image, averaged over the shared seeds
    rng = np.random.default_rng(boot.seed)
    stats = np.empty(boot.samples)
    for i in range(0, boot.samples, 1000):  # chunks: images × 1000 indices at a time
        idx = rng.integers(0, len(diff), size=(min(1000, boot.samples - i), len(diff)))
        stats[i:i + len(idx)] = diff[idx].mean(axis=1)
    lo, hi = np.quantile(stats, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(diff.mean()), float(lo), float(hi)


def verdict(paper: float, low: float, high: float, n: int, boot: Bootstrap) -> str:
    """'consistent' / 'not consistent' (paper inside / outside our interval), or why there is no verdict."""
    if paper is None or math.isnan(paper):
        return "no paper number"
    if n < boot.min_seeds or math.isnan(low):
        return f"n = {n} too small to tell (needs {boot.min_seeds} seeds)"
    return "consistent" if low <= paper <= high else "not consistent"
