"""Your own data: a folder with images and a CSV of 0/1 attribute columns.

``labels.csv`` (name set by ``csv_file``) has an image column (paths relative to the folder), an
optional split column (train/val/test), and one column per attribute with 1, 0 or empty (unknown).
Without a split column a seeded split is made: ``test_fraction`` to test, then ``val_fraction`` of
the rest to val.

Refused, with the line or column and the fix (a label file may come from anyone): a file that is not
UTF-8 (a BOM is fine), an image path leaving the folder (absolute or ``..``; checked before any file is
opened), an image listed twice (it could land in train and test), an attribute column with no known label,
an empty header cell or an attribute named ``image`` / ``split`` (the prepared format's own columns).
"""

from __future__ import annotations

import csv
import posixpath
from pathlib import Path

import numpy as np

from l2l.data.format import SPLITS, UNKNOWN, bad_attribute_names, escapes_folder, write_prepared
from l2l.data.prepare.common import SOURCE_DIR, carve_split, check_images, file_hashes, open_source, require
from l2l.errors import UserError

CONTENTS = ("a CSV (default labels.csv) with an image column (paths relative to the folder), an optional split "
            "column (train/val/test) and 0/1 attribute columns (empty = unknown), and the images")
INSTRUCTIONS = f"Point datasets.<name>.path (or --source) at a folder holding {CONTENTS}."


def read_table(path: Path, image_column: str, split_column: str) -> tuple[list[str], list[str], list[str] | None, np.ndarray]:
    """(attributes, images, splits or None, labels) with every row's width and value checked."""
    rows = _read_rows(path)
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
    _refuse_bad_names(path, header, attributes)
    images, splits, labels = [], [], np.empty((len(body), len(attributes)), dtype=np.int8)
    col = {h: i for i, h in enumerate(header)}
    for r, row in enumerate(body):
        line = r + 2
        if len(row) != len(header):
            raise UserError(f"{path}: line {line} has {len(row)} columns, the header has {len(header)}")
        images.append(_image_path(path, line, row[col[image_column]].strip()))
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
    _refuse_duplicates(path, images)
    _refuse_unknown_columns(path, attributes, labels)
    return attributes, images, splits if has_split else None, labels


def _refuse_bad_names(path: Path, header: list[str], attributes: list[str]) -> None:
    """An empty header cell, or an attribute named like labels.csv's own columns, would make a prepared
    dataset that every later step refuses: refused here, naming the column."""
    for j, name in bad_attribute_names(attributes):
        where = f"column {header.index(name) + 1}"
        if not name.strip():
            raise UserError(f"{path}: {where} has an empty header cell; name the attribute or delete the column")
        raise UserError(f"{path}: {where} is an attribute named '{name}', a name the prepared format keeps for its "
                        f"own {name} column; rename the attribute (e.g. '{name}_attr')")


def _read_rows(path: Path) -> list[list[str]]:
    """The CSV's rows; UTF-8 with or without a BOM (what spreadsheets write), anything else refused."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); re-save it "
                        f"as UTF-8 (a spreadsheet's 'CSV UTF-8', or `iconv -f latin1 -t utf-8 {path.name}`)") from e


def _image_path(path: Path, line: int, image: str) -> str:
    """The image path normalised (``./a.jpg`` is ``a.jpg``); one leaving the folder is refused, unopened."""
    if escapes_folder(image):
        raise UserError(f"{path}: line {line}: image path '{image}' leaves the folder (empty, absolute, or '..'); "
                        f"image paths must be relative to the folder holding {path.name}: move or link the "
                        f"image into it")
    return posixpath.normpath(image)


def _refuse_duplicates(path: Path, images: list[str]) -> None:
    """One row per image: a repeated image could land in train and test (leakage), so it is refused."""
    first: dict[str, int] = {}
    repeats = []
    for i, image in enumerate(images):
        if image in first:
            repeats.append(f"'{image}' (lines {first[image] + 2} and {i + 2})")
        else:
            first[image] = i
    if repeats:
        raise UserError(f"{path}: {len(repeats)} duplicate image row(s): {', '.join(repeats[:3])}"
                        f"{', ...' if len(repeats) > 3 else ''}; give each image one row (it could otherwise "
                        f"land in two splits): delete the repeated rows")


def _refuse_unknown_columns(path: Path, attributes: list[str], labels: np.ndarray) -> None:
    """An attribute with no known label can be neither learnt nor scored: refuse it, naming the column."""
    empty = [a for j, a in enumerate(attributes) if (labels[:, j] == UNKNOWN).all()]
    if empty:
        raise UserError(f"{path}: column(s) {', '.join(repr(a) for a in empty)} have no known label (every cell "
                        f"empty); fill in 0/1 labels for some images or delete the column(s)")


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
