"""Clothing Attributes Dataset (Chen et al., ECCV 2012): 1,856 images, 26 attributes (23 binary used).

Layout as distributed (Stanford Digital Repository, purl tb980qz1002)::

    images/000001.jpg ... images/001856.jpg
    labels/<attribute>_GT.mat     key GT, 1856 x 1: 1 = absent, 2 = present (gender: 1 male, 2 female), NaN = unknown

Row i of every GT column is image ``images/{i+1:06d}.jpg``. File stems differ between copies
(``skin_exposure``/``skinexposure``, ``many_colors``/``manycolors``, ``scarf``/``wearscarf``,
``pattern_floral``/``floral``), so files are matched to attributes by normalized stem, never by
directory order. The 3 multi-class attributes (category, neckline, sleeve length) are ignored.
The split is seeded: ``train_size`` (1,500) train, the rest (356) test; NaN labels stay unknown.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from l2l.data.format import UNKNOWN, write_prepared
from l2l.data.prepare.common import SOURCE_DIR, carve_split, check_images, file_hashes, open_source, report_counts, require
from l2l.errors import UserError

GROUPS = {
    "colors": ["black", "blue", "brown", "cyan", "gray", "green", "many_colors", "purple", "red", "white", "yellow"],
    "patterns": ["floral", "graphics", "plaid", "solid", "spot", "stripe"],
    "parts": ["necktie", "collar", "placket", "scarf"],
    "appearance": ["gender", "skin_exposure"],
}
ATTRIBUTES = [a for members in GROUPS.values() for a in members]  # 23, in the paper's Table 10 order
MULTICLASS = ("category", "neckline", "sleevelength")
ALIASES = {"grey": "gray", "manycolor": "manycolors", "tie": "necktie"}
OFFICIAL = {"train": 1500, "test": 356}
CONTENTS = "images/000001.jpg ... images/001856.jpg and labels/<attribute>_GT.mat (23 binary attributes)"
INSTRUCTIONS = (
    "The Clothing Attributes Dataset is published by the Stanford Digital Repository at "
    "https://purl.stanford.edu/tb980qz1002 (file ClothingAttributeDataset.zip).\n"
    f"Set datasets.clothing.url to the file's direct link to let the pipeline download it, or download it, "
    f"unzip it so that one folder holds {CONTENTS}, and set datasets.clothing.path to that folder "
    "(or to the zip itself), or pass it as `l2l prepare clothing --source PATH`."
)


def normalize(stem: str) -> str:
    """'Skin_Exposure_GT' → 'skinexposure', 'wearscarf' → 'scarf', 'pattern_floral' → 'floral'."""
    s = re.sub(r"[^a-z0-9]", "", stem.lower())
    s = re.sub(r"gt$", "", s)
    s = re.sub(r"^(pattern|wear)", "", s)
    return ALIASES.get(s, s)


def match_files(label_dir: Path) -> dict[str, Path]:
    """attribute → its _GT.mat file, by normalized stem; a missing or doubled attribute is an error."""
    files = sorted(label_dir.glob("*.mat"))
    by_key: dict[str, list[Path]] = {}
    for f in files:
        by_key.setdefault(normalize(f.stem), []).append(f)
    out, missing = {}, []
    for a in ATTRIBUTES:
        found = by_key.get(normalize(a), [])
        if len(found) > 1:
            raise UserError(f"{label_dir}: attribute '{a}' matches several files ({', '.join(f.name for f in found)}); "
                            f"keep one")
        if not found:
            missing.append(a)
        else:
            out[a] = found[0]
    if missing:
        raise UserError(f"{label_dir}: no label file for attribute(s) {', '.join(missing)}; found: "
                        f"{', '.join(f.name for f in files) or 'no .mat files'} (expected <attribute>_GT.mat)")
    return out


def read_gt(path: Path) -> np.ndarray:
    """One GT column → int8 vector with 0 (GT 1), 1 (GT 2), UNKNOWN (NaN)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as e:
        raise UserError(f"{path}: cannot be read as a MATLAB file ({e}); download the dataset again") from e
    if "GT" not in mat:
        raise UserError(f"{path}: no variable GT (found: {', '.join(k for k in mat if not k.startswith('__'))})")
    gt = np.asarray(mat["GT"], dtype=float)
    if gt.ndim != 2 or min(gt.shape) != 1:
        raise UserError(f"{path}: GT has shape {gt.shape}; expected one column (N x 1)")
    gt = gt.ravel()
    bad = ~np.isnan(gt) & ~np.isin(gt, (1.0, 2.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UserError(f"{path}: GT row {i + 1} is {gt[i]:g}; a binary attribute has 1 (absent), 2 (present) or NaN")
    return np.where(np.isnan(gt), UNKNOWN, gt - 1).astype(np.int8)


def prepare(source: str | Path, stage: Path, seed: int = 0, train_size: int = 1500, val_fraction: float = 0.0,
            check_decode: bool = True, log=print, **_: object) -> Path:
    """Write the prepared Clothing Attributes into ``stage`` with a seeded train_size/rest split."""
    root, info = open_source(source, stage, INSTRUCTIONS)
    label_dir = require(root / "labels" if (root / "labels").is_dir() else None, "labels/ folder", root, INSTRUCTIONS)
    image_dir = require(root / "images" if (root / "images").is_dir() else None, "images/ folder", root, INSTRUCTIONS)
    files = match_files(label_dir)
    columns = {a: read_gt(p) for a, p in files.items()}
    lengths = {a: len(c) for a, c in columns.items()}
    n = lengths[ATTRIBUTES[0]]
    if len(set(lengths.values())) != 1:
        odd = next(a for a in ATTRIBUTES if lengths[a] != n)
        raise UserError(f"{files[odd]}: GT has {lengths[odd]} rows but {files[ATTRIBUTES[0]].name} has {n}; "
                        f"all label files must cover the same images")
    if not 0 < train_size < n:
        raise UserError(f"{label_dir}: train_size {train_size} must be between 1 and the {n} images - 1")
    labels = np.stack([columns[a] for a in ATTRIBUTES], axis=1)
    prefix = image_dir.relative_to(stage).as_posix()
    images = [f"{prefix}/{i + 1:06d}.jpg" for i in range(n)]
    check_images(stage, images, decode=check_decode, log=log)
    order = np.random.default_rng(seed).permutation(n)
    splits = np.full(n, "test", dtype=object)
    splits[order[:train_size]] = "train"
    splits = splits.astype(str)
    counts = report_counts({"train": train_size, "test": n - train_size}, OFFICIAL, log)
    splits = carve_split(splits, "train", "val", val_fraction, seed + 1)
    ignored = sorted(f.name for f in label_dir.glob("*.mat") if normalize(f.stem) in MULTICLASS)
    info.update({"dataset": "clothing", "files_sha256": file_hashes(sorted(files.values()), stage / SOURCE_DIR),
                 "label_files": {a: p.name for a, p in files.items()}, "ignored_multiclass": ignored,
                 "split": f"seeded: {train_size} train, rest test (seed {seed}); val = {val_fraction:g} of train",
                 "split_seed": seed, "train_size": train_size, "val_fraction": val_fraction,
                 "split_sizes": counts, "gender": "1 = female (GT 2), 0 = male (GT 1)"})
    return write_prepared(stage, "clothing", ATTRIBUTES, images, splits, labels, info, GROUPS)
