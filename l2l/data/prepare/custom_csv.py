"""Your own data: a folder with images and a CSV of 0/1 attribute columns.

``labels.csv`` (name set by ``csv_file``) has an image column (paths relative to the folder), an
optional split column (train/val/test), and one column per attribute with 1, 0 or empty (unknown).
Without a split column a seeded split is made: ``test_fraction`` to test, then ``val_fraction`` of
the rest to val.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from l2l.data.format import SPLITS, UNKNOWN, write_prepared
from l2l.data.prepare.common import SOURCE_DIR, carve_split, check_images, file_hashes, open_source, require
from l2l.errors import UserError

CONTENTS = ("a CSV (default labels.csv) with an image column (paths relative to the folder), an optional split "
            "column (train/val/test) and 0/1 attribute columns (empty = unknown), and the images")
INSTRUCTIONS = f"Point datasets.<name>.path (or --source) at a folder holding {CONTENTS}."


def read_table(path: Path, image_column: str, split_column: str) -> tuple[list[str], list[str], list[str] | None, np.ndarray]:
    """(attributes, images, splits or None, labels) with every row's width and value checked."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise UserError(f"{path}: empty file; expected a header line '{image_column},<attr>,...'")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if image_column not in header:
        raise UserError(f"{path}: no '{image_column}' column (header: {', '.join(header)}); "
                        f"name the image column or set image_column")
    has_split = split_column in header
    attributes = [h for h in header if h not in (image_column, split_column)]
    if not attributes:
        raise UserError(f"{path}: no attribute columns besides '{image_column}'")
    if len(set(header)) != len(header):
        raise UserError(f"{path}: duplicate column names in the header")
    images, splits, labels = [], [], np.empty((len(body), len(attributes)), dtype=np.int8)
    col = {h: i for i, h in enumerate(header)}
    for r, row in enumerate(body):
        line = r + 2
        if len(row) != len(header):
            raise UserError(f"{path}: line {line} has {len(row)} columns, the header has {len(header)}")
        images.append(row[col[image_column]].strip())
        if has_split:
            s = row[col[split_column]].strip()
            if s not in SPLITS:
                raise UserError(f"{path}: line {line}: split '{s}' is not one of {', '.join(SPLITS)}")
            splits.append(s)
        for j, a in enumerate(attributes):
            v = row[col[a]].strip()
            if v not in ("0", "1", ""):
                raise UserError(f"{path}: line {line}, column '{a}' is '{v}'; labels must be 0, 1 or empty (unknown)")
            labels[r, j] = int(v) if v else UNKNOWN
    if not images:
        raise UserError(f"{path}: no data rows")
    return attributes, images, splits if has_split else None, labels


def prepare(source: str | Path, stage: Path, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2,
            csv_file: str = "labels.csv", image_column: str = "image", split_column: str = "split",
            check_decode: bool = True, log=print, **_: object) -> Path:
    """Write a user's CSV dataset into ``stage``; the split is the CSV's, or seeded."""
    root, info = open_source(source, stage, INSTRUCTIONS)
    table = require(root / csv_file if (root / csv_file).is_file() else None, csv_file, root, INSTRUCTIONS)
    attributes, rel, given, labels = read_table(table, image_column, split_column)
    prefix = root.relative_to(stage).as_posix()
    images = [f"{prefix}/{p}" for p in rel]
    check_images(stage, images, decode=check_decode, log=log)
    if given is not None:
        splits, how = np.array(given), f"from the '{split_column}' column"
    else:
        splits = carve_split(np.array(["train"] * len(images)), "train", "test", test_fraction, seed)
        splits = carve_split(splits, "train", "val", val_fraction, seed + 1)
        how = f"seeded (seed {seed}): test {test_fraction:g}, val {val_fraction:g} of the rest"
    counts = {s: int((splits == s).sum()) for s in SPLITS}
    log(f"split {how}: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    info.update({"dataset": "csv", "files_sha256": file_hashes([table], stage / SOURCE_DIR), "split": how,
                 "split_seed": seed, "split_sizes": counts})
    return write_prepared(stage, "custom", attributes, images, splits, labels, info)
