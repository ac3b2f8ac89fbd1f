"""The embedded dataset: procedurally drawn multi-attribute images that stand in for LFWA on a CPU.

Generative process (all randomness from one ``numpy`` generator seeded by ``seed``):

1. Latent factors per instance: ``kind`` in {0,1,2,3} (prior 0.4/0.3/0.2/0.1) and ``style``
   in {0,1} (prior 0.6/0.4).
2. Each attribute is Bernoulli with a probability set by one latent factor (tables
   ``KIND_PROBS`` and ``STYLE_PROBS``), so attributes are correlated *per instance*
   through the latents, and positives are imbalanced (rates from about 0.15 to 0.55).
3. Rendering on an ``image_size`` square canvas with per-image brightness jitter and
   per-pixel Gaussian noise:

   * global attributes change the whole object: ``round`` (disc vs square), ``red`` /
     ``blue`` (object colour), ``large`` (radius), ``striped`` (texture), ``dark_background``,
     ``frame`` (border);
   * local attributes are visible in one region only: ``mark_top_left`` ...
     ``mark_bottom_right`` (a small square in that corner), ``bar_bottom`` (a strip along the
     bottom edge), ``center_dot``;
   * weak attributes are drawn at an amplitude comparable to the jitter, so the image
     alone is ambiguous: ``faint_glow`` (+red over the image), ``faint_tint`` (+green on the
     object), ``faint_speckle`` (sparse bright pixels). They are nearly determined by a
     latent factor (p = 0.95 / 0.03), which the visible attributes reveal: the regime in
     which the paper's IC-MLM, reading the other labels, should help.

Labels are complete (no unknowns). Splits are by index after shuffling.

The dataset is written into a staging folder beside ``out`` and renamed into place when complete
(:func:`l2l.data.prepare.common.staging`), so a killed ``l2l generate`` leaves the old dataset whole,
never new images under old labels. Only a folder that ``generate`` (or ``prepare``) could have written
is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from l2l.data.format import write_prepared
from l2l.data.prepare.common import MARKER, staging
from l2l.progress import progress as _progress

KIND_PRIOR = np.array([0.4, 0.3, 0.2, 0.1])
STYLE_PRIOR = np.array([0.6, 0.4])
# attribute -> P(attribute = 1 | kind)
KIND_PROBS: dict[str, list[float]] = {
    "round": [0.9, 0.1, 0.9, 0.1],
    "red": [0.9, 0.05, 0.05, 0.9],
    "blue": [0.05, 0.9, 0.1, 0.9],
    "large": [0.5, 0.5, 0.2, 0.8],
    "center_dot": [0.1, 0.8, 0.1, 0.7],
    "mark_top_left": [0.8, 0.05, 0.05, 0.3],
    "mark_top_right": [0.05, 0.7, 0.05, 0.3],
    "mark_bottom_left": [0.05, 0.05, 0.7, 0.3],
    "mark_bottom_right": [0.05, 0.05, 0.1, 0.8],
    "bar_bottom": [0.2, 0.05, 0.8, 0.1],
    "faint_glow": [0.95, 0.03, 0.03, 0.95],
    "faint_tint": [0.03, 0.95, 0.03, 0.95],
}
# attribute -> P(attribute = 1 | style)
STYLE_PROBS: dict[str, list[float]] = {
    "striped": [0.1, 0.8],
    "dark_background": [0.2, 0.7],
    "frame": [0.1, 0.6],
    "faint_speckle": [0.03, 0.95],
}
ATTRIBUTES = list(KIND_PROBS) + list(STYLE_PROBS)
GROUPS = {
    "global": ["round", "red", "blue", "large", "striped", "dark_background", "frame"],
    "local": ["center_dot", "mark_top_left", "mark_top_right", "mark_bottom_left",
              "mark_bottom_right", "bar_bottom"],
    "weak": ["faint_glow", "faint_tint", "faint_speckle"],
}


def sample_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw latents, then attributes given latents; returns int8 n×M in ATTRIBUTES order."""
    kind = rng.choice(len(KIND_PRIOR), size=n, p=KIND_PRIOR)
    style = rng.choice(len(STYLE_PRIOR), size=n, p=STYLE_PRIOR)
    probs = np.concatenate(
        [np.array(list(KIND_PROBS.values())).T[kind], np.array(list(STYLE_PROBS.values())).T[style]],
        axis=1,
    )
    return (rng.random(probs.shape) < probs).astype(np.int8)


def render(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw n images (uint8 n×size×size×3) showing the attributes in ``labels``."""
    a = {name: labels[:, j].astype(bool)[:, None, None] for j, name in enumerate(ATTRIBUTES)}
    n = len(labels)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    s = size / 32.0  # geometry is specified on a 32 px canvas
    bg = np.where(a["dark_background"], 0.15, 0.55) + rng.uniform(-0.08, 0.08, (n, 1, 1))
    img = np.repeat(bg[..., None], 3, axis=-1) + rng.uniform(-0.05, 0.05, (n, 1, 1, 3))
    img = np.broadcast_to(img, (n, size, size, 3)).copy()
    img[..., 0] += np.where(a["faint_glow"], 0.05, 0.0)

    cy = size / 2 + rng.uniform(-2, 2, (n, 1, 1)) * s
    cx = size / 2 + rng.uniform(-2, 2, (n, 1, 1)) * s
    r = np.where(a["large"], 9.0, 6.0) * s + rng.uniform(-0.5, 0.5, (n, 1, 1)) * s
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    square = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    obj = np.where(a["round"], disc, square)
    color = np.stack([
        np.where(a["red"], 0.85, 0.2), np.where(a["red"] | a["blue"], 0.2, 0.75),
        np.where(a["blue"], 0.85, 0.2)], axis=-1)[:, 0, 0]  # n×3
    color = color + rng.uniform(-0.08, 0.08, color.shape)
    color[:, 1] += np.where(a["faint_tint"][:, 0, 0], 0.06, 0.0)
    stripes = np.where(a["striped"] & ((yy // max(1, round(2 * s))) % 2 == 0), 0.55, 1.0)
    img = np.where(obj[..., None], color[:, None, None, :] * stripes[..., None], img)

    dot = (np.abs(yy - cy) <= 1.2 * s) & (np.abs(xx - cx) <= 1.2 * s) & a["center_dot"]
    img[dot] = 0.0
    m = round(4 * s)
    corners = {"mark_top_left": (slice(1, 1 + m), slice(1, 1 + m)),
               "mark_top_right": (slice(1, 1 + m), slice(size - 1 - m, size - 1)),
               "mark_bottom_left": (slice(size - 1 - m, size - 1), slice(1, 1 + m)),
               "mark_bottom_right": (slice(size - 1 - m, size - 1), slice(size - 1 - m, size - 1))}
    for name, (ys, xs) in corners.items():
        sel = a[name][:, 0, 0]
        img[sel, ys, xs] = np.array([0.95, 0.9, 0.2])
    bar = a["bar_bottom"][:, 0, 0]
    img[bar, size - max(2, round(2 * s)):, round(8 * s):size - round(8 * s)] = np.array([0.9, 0.5, 0.1])
    border = (yy == 0) | (xx == 0) | (yy == size - 1) | (xx == size - 1)
    img = np.where((border & a["frame"])[..., None], 1.0, img)

    speckle = (rng.random((n, size, size)) < 0.03) & a["faint_speckle"]
    img = img + np.where(speckle, 0.12, 0.0)[..., None]
    img = img + rng.normal(0.0, 0.06, img.shape)
    return (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)


def generate(
    out: str | Path,
    n_train: int = 3000,
    n_val: int = 500,
    n_test: int = 1000,
    image_size: int = 32,
    seed: int = 0,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write the embedded dataset in the prepared format; same seed → byte-identical labels.csv.

    ``progress`` draws a bar (for a terminal); ``log``, if given, gets a few progress lines instead.
    """
    out = Path(out)
    n = n_train + n_val + n_test
    rng = np.random.default_rng(seed)
    labels = sample_labels(n, rng)
    images = render(labels, image_size, rng)
    splits = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test)
    names = [f"images/{i:06d}.png" for i in range(n)]
    source = {"generator": "l2l.data.embedded", "seed": seed, "image_size": image_size,
              "n_train": n_train, "n_val": n_val, "n_test": n_test}
    with staging(out, _generated) as stage:
        (stage / "images").mkdir()
        for i in _progress(range(n), desc="write images", unit="img", bar=progress, log=log):
            Image.fromarray(images[i]).save(stage / names[i], optimize=False, compress_level=1)
        write_prepared(stage, "embedded", ATTRIBUTES, names, splits, labels, source, GROUPS)
    return out


def _generated(folder: Path) -> bool:
    """A folder holding only what ``generate`` writes (a dataset generated before the staging folder)."""
    ours = {"images", "cache", "labels.csv", "meta.yaml", MARKER}
    return all(p.name in ours or (p.name.startswith(".") and p.name.endswith(".tmp")) for p in folder.iterdir())
