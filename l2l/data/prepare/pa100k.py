"""PA-100K (Liu et al., HydraPlus-Net, ICCV 2017): 100,000 pedestrian images, 26 attributes.

The release has ``annotation.mat`` (MATLAB v5) with ``train_images_name`` / ``val_images_name`` /
``test_images_name`` (cell arrays of file names), ``train_label`` / ``val_label`` / ``test_label``
(N x 26, 0/1) and ``attributes`` (26 names), and the images in ``data/``. The official split
(80,000 / 10,000 / 10,000) and the file's attribute order and names are kept as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2l.data.format import write_prepared
from l2l.data.prepare.common import (SOURCE_DIR, check_images, file_hashes, find_first, open_source,
                                     read_mat, report_counts, require)
from l2l.errors import UserError

NUM_ATTRIBUTES = 26
OFFICIAL = {"train": 80000, "val": 10000, "test": 10000}
IMAGE_DIRS = ("data", "release_data/release_data", "release_data", "images")
CONTENTS = "annotation.mat and the image folder data/ (000001.jpg ... 100000.jpg)"
INSTRUCTIONS = (
    "PA-100K is distributed through Google Drive / Baidu Pan by the HydraPlus-Net authors "
    "(https://github.com/xh-liu/HydraPlus-Net, 'PA-100K dataset' link), which needs a browser.\n"
    "Download annotation.mat (or annotation.zip) and data.zip, unzip them into one folder so that it holds "
    f"{CONTENTS}, and set datasets.pa100k.path to that folder (default data/PA-100K, relative to the "
    "working directory), or pass it as `l2l prepare pa100k --source FOLDER`."
)


def _names(cell: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (as scipy loads it) → list of str."""
    out = []
    for item in np.asarray(cell, dtype=object).ravel():
        while isinstance(item, np.ndarray):  # cells hold 1-element arrays, sometimes nested
            item = item.ravel()[0] if item.size else ""
        out.append(str(item).strip())
    return out


def read_annotation(path: Path) -> tuple[list[str], dict[str, tuple[list[str], np.ndarray]]]:
    """attributes, {split: (image names, labels N×26 int8)} with every shape checked."""
    mat = read_mat(path)
    keys = ["attributes"] + [f"{s}_{k}" for s in OFFICIAL for k in ("images_name", "label")]
    missing = [k for k in keys if k not in mat]
    if missing:
        raise UserError(f"{path}: missing variable(s) {', '.join(missing)} (found: "
                        f"{', '.join(k for k in mat if not k.startswith('__'))}); is this PA-100K's annotation.mat?")
    attributes = _names(mat["attributes"])
    if len(attributes) != NUM_ATTRIBUTES:
        raise UserError(f"{path}: 'attributes' has {len(attributes)} names, PA-100K has {NUM_ATTRIBUTES}")
    splits = {}
    for s in OFFICIAL:
        names, labels = _names(mat[f"{s}_images_name"]), np.asarray(mat[f"{s}_label"])
        if labels.ndim != 2 or labels.shape[1] != NUM_ATTRIBUTES:
            raise UserError(f"{path}: {s}_label has shape {labels.shape}, expected (N, {NUM_ATTRIBUTES}) columns "
                            f"in the order of 'attributes'")
        if labels.shape[0] != len(names):
            raise UserError(f"{path}: {s}_label has {labels.shape[0]} rows but {s}_images_name has {len(names)} names")
        bad = ~np.isin(labels, (0, 1))
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise UserError(f"{path}: {s}_label row {r + 1}, column {c + 1} is {labels[r, c]!r}; labels must be 0/1")
        splits[s] = (names, labels.astype(np.int8))
    return attributes, splits


def prepare(source: str | Path, stage: Path, seed: int = 0, check_decode: bool = True, log=print,
            **_: object) -> Path:
    """Write the prepared PA-100K into ``stage`` (the seed is unused: the split is official)."""
    root, info = open_source(source, stage, INSTRUCTIONS)
    annotation = require(find_first(root, ["annotation.mat", "annotation/annotation.mat"]),
                         "annotation.mat", root, INSTRUCTIONS)
    attributes, splits = read_annotation(annotation)
    first = splits["train"][0][0]
    base = annotation.parent
    image_dir = next((base / d for d in IMAGE_DIRS if (base / d / first).is_file()), None)
    image_dir = require(image_dir, f"the image folder (data/ holding {first})", base, INSTRUCTIONS)
    prefix = image_dir.relative_to(stage).as_posix()
    images = [f"{prefix}/{n}" for s in OFFICIAL for n in splits[s][0]]
    split_col = np.array([s for s in OFFICIAL for _ in splits[s][0]])
    labels = np.concatenate([splits[s][1] for s in OFFICIAL])
    check_images(stage, images, decode=check_decode, log=log)
    counts = report_counts({s: len(splits[s][0]) for s in OFFICIAL}, OFFICIAL, log=log)
    info.update({"dataset": "pa100k", "files_sha256": file_hashes([annotation], stage / SOURCE_DIR),
                 "split": "official (annotation.mat)", "split_sizes": counts, "image_dir": prefix})
    return write_prepared(stage, "pa100k", attributes, images, split_col, labels, info)
