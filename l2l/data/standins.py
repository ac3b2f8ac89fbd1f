"""Tiny stand-ins of the paper's datasets, written in the publishers' real distribution formats.

The rehearsal (``snakemake paper --config rehearsal=true``, docs/rehearsal.md) prepares these with the real
preparers (:mod:`l2l.data.prepare`), so a paper-suite run is exercised end to end on a login node before
any GPU-hour is spent; the tests build their fixtures with the same writers. Each writer lays the files
out as the release does (MATLAB files via ``scipy.io.savemat``, list files, JPEG images) and returns what
``labels.csv`` must then contain, computed here independently of the preparers.

Everything is seeded: the same ``seed`` writes the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from l2l.data.field_standins import FIELD_WRITERS

PA100K_ATTRIBUTES = [
    "Female", "AgeOver60", "Age18-60", "AgeLess18", "Front", "Side", "Back", "Hat", "Glasses", "HandBag",
    "ShoulderBag", "Backpack", "HoldObjectsInFront", "ShortSleeve", "LongSleeve", "UpperStride", "UpperLogo",
    "UpperPlaid", "UpperSplice", "LowerStripe", "LowerPattern", "LongCoat", "Trousers", "Shorts",
    "Skirt&Dress", "boots",
]

CLOTHING_STEMS = {  # canonical attribute -> (spelling A, spelling B) as different copies name the files
    "black": ("black", "black"), "blue": ("blue", "blue"), "brown": ("brown", "brown"), "cyan": ("cyan", "cyan"),
    "gray": ("gray", "gray"), "green": ("green", "green"), "many_colors": ("many_colors", "manycolors"),
    "purple": ("purple", "purple"), "red": ("red", "red"), "white": ("white", "white"),
    "yellow": ("yellow", "yellow"), "floral": ("pattern_floral", "floral"), "graphics": ("pattern_graphics", "graphics"),
    "plaid": ("pattern_plaid", "plaid"), "solid": ("pattern_solid", "solid"), "spot": ("pattern_spot", "spot"),
    "stripe": ("pattern_stripe", "stripe"), "necktie": ("necktie", "necktie"), "collar": ("collar", "collar"),
    "placket": ("placket", "placket"), "scarf": ("scarf", "wearscarf"), "gender": ("gender", "gender"),
    "skin_exposure": ("skin_exposure", "skinexposure"),
}


def jpeg(path: Path, seed: int, size: tuple[int, int] = (24, 16)) -> None:
    """A seeded noise JPEG (height x width) at ``path``."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, quality=90)


def cell(strings: list[str]) -> np.ndarray:
    """A MATLAB cell array (N x 1) of strings, as savemat writes object arrays."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out


def make_pa100k(root: Path, sizes: tuple[int, int, int] = (8, 3, 4), seed: int = 0) -> dict[str, Any]:
    """annotation.mat + data/*.jpg; returns {'rows': [(image, split, labels)], 'attributes': [...]}."""
    from scipy.io import savemat

    root = Path(root)
    rng = np.random.default_rng(seed)
    rows, mat, k = [], {"attributes": cell(PA100K_ATTRIBUTES)}, 1
    for split, n in zip(("train", "val", "test"), sizes):
        names = [f"{k + i:06d}.jpg" for i in range(n)]
        labels = rng.integers(0, 2, (n, 26)).astype(np.uint8)
        mat[f"{split}_images_name"], mat[f"{split}_label"] = cell(names), labels
        for i, name in enumerate(names):
            jpeg(root / "data" / name, k + i)
            rows.append((f"source/data/{name}", split, labels[i].tolist()))
        k += n
    root.mkdir(parents=True, exist_ok=True)
    savemat(root / "annotation.mat", mat)
    return {"rows": rows, "attributes": PA100K_ATTRIBUTES}


def make_lfwa(root: Path, n_train: int = 10, n_test: int = 6, seed: int = 0, zero_one: bool = False) -> dict[str, Any]:
    """lfw/<Person>/<Person>_0001.jpg + train.txt/test.txt with ±1 (or 0/1) values."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("train", n_train), ("test", n_test)):
        lines = []
        for i in range(n):
            rel = f"Person_{split}_{i}/Person_{split}_{i}_0001.jpg"
            jpeg(root / "lfw" / rel, seed * 1000 + len(rows), size=(20, 20))
            y = rng.integers(0, 2, 40)
            values = y if zero_one else 2 * y - 1
            lines.append(" ".join([rel, *map(str, values)]))
            rows.append((f"source/lfw/{rel}", split, y.tolist()))
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return {"rows": rows}


def make_clothing(root: Path, n: int = 12, seed: int = 0, spelling: int = 0, as_row: bool = False) -> dict[str, Any]:
    """images/NNNNNN.jpg + labels/<stem>_GT.mat (key GT, n x 1, 1/2/NaN) + the 3 multi-class files.

    Returns {'labels': {attribute: column of 1/0/None}}: GT 2 → 1, GT 1 → 0, NaN → None.
    """
    from scipy.io import savemat

    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    expected = {}
    # write in reverse order so directory order differs from the attribute order
    for attr, stems in reversed(list(CLOTHING_STEMS.items())):
        gt = rng.integers(1, 3, n).astype(float)
        gt[rng.random(n) < 0.2] = np.nan
        savemat(root / "labels" / f"{stems[spelling]}_GT.mat", {"GT": gt[None, :] if as_row else gt[:, None]})
        expected[attr] = [None if np.isnan(v) else int(v) - 1 for v in gt]
    for multi in ("category", "neckline", "sleevelength"):
        savemat(root / "labels" / f"{multi}_GT.mat", {"GT": rng.integers(1, 8, (n, 1)).astype(float)})
    for i in range(n):
        jpeg(root / "images" / f"{i + 1:06d}.jpg", i)
    return {"labels": expected, "n": n}


def make_csv(root: Path, with_split: bool = True) -> dict[str, Any]:
    """A user's folder: photos/*.jpg + labels.csv (image, split?, smiling, hat, glasses) with an unknown."""
    root = Path(root)
    rows = [("photos/a.jpg", "train", "1", "0", ""), ("photos/b.jpg", "train", "0", "1", "1"),
            ("photos/c.jpg", "val", "1", "1", "0"), ("photos/d.jpg", "test", "0", "0", "1"),
            ("photos/e.jpg", "test", "", "1", "0"), ("photos/f.jpg", "train", "1", "1", "1")]
    header = ["image", "split", "smiling", "hat", "glasses"] if with_split else ["image", "smiling", "hat", "glasses"]
    lines = [",".join(header)]
    for i, r in enumerate(rows):
        jpeg(root / r[0], 50 + i)
        lines.append(",".join(r if with_split else (r[0], *r[2:])))
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return {"rows": rows}


# The rehearsal's sizes: enough images per split for a batch and a test pass, few enough that the whole
# paper suite trains in minutes on 2 CPU cores. Clothing's train_size must match (l2l.plan.rehearsal).
REHEARSAL_WRITERS: dict[str, Callable[[Path, int], dict[str, Any]]] = {
    "lfwa": lambda root, seed: make_lfwa(root, n_train=16, n_test=8, seed=seed),
    "pa100k": lambda root, seed: make_pa100k(root, sizes=(12, 4, 8), seed=seed),
    "clothing": lambda root, seed: make_clothing(root, n=20, seed=seed),
    **FIELD_WRITERS,  # peta, rapv1, rapv2, celeba, petazs, rapzs (l2l.data.field_standins)
}


def write_standin(source: str, root: str | Path, seed: int = 0) -> dict[str, Any]:
    """Write the rehearsal stand-in of dataset ``source`` (lfwa, pa100k, clothing, or a field set) into ``root``,
    which must not exist yet (written next to it, then renamed: a killed job leaves no half dataset)."""
    import shutil

    if source not in REHEARSAL_WRITERS:
        raise ValueError(f"no stand-in for source '{source}'; one of {', '.join(REHEARSAL_WRITERS)}")
    root = Path(root)
    stage = root.with_name(root.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    info = REHEARSAL_WRITERS[source](stage, seed)
    shutil.rmtree(root, ignore_errors=True)
    stage.rename(root)
    return info
