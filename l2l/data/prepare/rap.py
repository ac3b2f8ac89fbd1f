"""RAP v1 (Li et al., 2016) and RAP v2 (Li et al., TIP 2019): pedestrians from 26 shop cameras.

Both releases hold ``RAP_annotation/RAP_annotation.mat`` (a ``RAP_annotation`` struct) and the images in
``RAP_dataset/``; read as Rethinking_of_PAR's ``format_rap.py`` / ``format_rap2.py`` read them:

* **RAPv1**: ``imagesname`` (41,585), ``label`` 41585 x 92 (2 = uncertain), ``attribute_eng`` (92 names, the
  first 51 evaluated), ``partion``: 5 partitions of {trainval, test} **1-based** rows (33,268 / 8,317).
  There is no official val split: a seeded ``val_fraction`` (default 0.1) of trainval becomes ``val`` (the
  clean protocol selects on it); train + val is exactly the official trainval.
* **RAPv2**: ``name`` (84,928), ``data`` 84928 x 152 (columns 0-110 binary with a few 2s, 111 viewpoint,
  then occlusion flags and boxes), ``attribute`` (152 names), ``selected_attribute`` (the 54 evaluated,
  1-based), ``partition_attribute``: 5 partitions of {train, val, test} 1-based (50,957 / 16,986 / 16,985).
  ``--attributes all`` gives Rethinking_of_PAR's 119 columns: the 54, its 42 colour columns, 23 others.

``--attributes eval`` keeps the evaluated attributes in Rethinking_of_PAR's group order.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from l2l.data.prepare.common import carve_split, find_first, open_source, require
from l2l.data.prepare.pedestrian import (check_options, column_order, field, finish, indices, labels, load_mat,
                                         split_column, strings)
from l2l.errors import UserError

N_PARTITIONS = 5
V1_ATTRIBUTES, V1_EVAL = 92, 51
# Rethinking_of_PAR format_rap.py group_order: the 51 evaluated columns in official order
V1_GROUP_ORDER = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
                  34, 35, 36, 37, 38, 39, 40, 41, 42, 1, 2, 3, 0, 4, 5, 6, 7, 8, 43, 44, 45, 46, 47, 48, 49, 50]
V1_OFFICIAL = {"train+val": 33268, "test": 8317}
V2_COLUMNS, V2_SELECTED = 152, 54
# format_rap2.py: group_order indexes the 54 selected attributes; colour columns; 'all' keeps 119 columns
V2_GROUP_ORDER = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
                  35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 1, 2, 3, 4, 0, 5, 6, 7, 8, 9, 45, 46, 47, 48, 49, 50, 51, 52,
                  53]
V2_COLOR = list(range(31, 45)) + list(range(53, 67)) + list(range(74, 88))
V2_OFFICIAL = {"train": 50957, "val": 16986, "test": 16985}
CONTENTS = "RAP_annotation/RAP_annotation.mat and RAP_dataset/ (the images named in the .mat file)"
INSTRUCTIONS = (
    "RAP v1 and v2 are released on request: follow the instructions at http://www.rapdataset.com (an "
    "agreement to sign and send to the authors) and download the archive they give access to.\n"
    f"Unpack it so that one folder holds {CONTENTS}, and pass it as `l2l prepare rapv1|rapv2 --source FOLDER` "
    "(or set datasets.<name>.path to it)."
)


def _annotation(root: Path) -> tuple[np.ndarray, Path, Path]:
    """The RAP_annotation struct, the .mat path and the folder holding RAP_dataset/."""
    mat = require(find_first(root, ["RAP_annotation/RAP_annotation.mat", "RAP_annotation.mat"]),
                  "RAP_annotation/RAP_annotation.mat", root, INSTRUCTIONS)
    base = mat.parent.parent if mat.parent.name == "RAP_annotation" else mat.parent
    image_dir = require(base / "RAP_dataset", "the image folder RAP_dataset/", base, INSTRUCTIONS)
    return load_mat(mat, "RAP_annotation"), mat, image_dir


def _fields(ann: np.ndarray, path: Path, names: tuple[str, ...], kind: str, other: str) -> None:
    have = np.asarray(ann).ravel()[0].dtype.names or ()
    missing = [n for n in names if n not in have]
    if missing:
        raise UserError(f"{path}: RAP_annotation has no {', '.join(missing)} (fields: {', '.join(have)}); this is "
                        f"not {kind}'s annotation file" + (f" (it looks like {other}'s: use `l2l prepare {other}`)"
                                                             if other_fields(other) <= set(have) else ""))


def other_fields(kind: str) -> set[str]:
    return {"rapv1": {"partion", "imagesname"}, "rapv2": {"partition_attribute", "selected_attribute"}}[kind]


def read_rapv1(path: Path, ann: np.ndarray) -> tuple[list[str], list[str], np.ndarray, list[dict[str, np.ndarray]]]:
    """(image names, 92 attribute names, labels N×92, 5 partitions {train: trainval rows, test: rows})."""
    _fields(ann, path, ("partion", "label", "attribute_eng", "imagesname"), "RAPv1", "rapv2")
    images = strings(field(ann, "imagesname", path, "RAP_annotation"))
    names = strings(field(ann, "attribute_eng", path, "RAP_annotation"))
    y = np.asarray(field(ann, "label", path, "RAP_annotation"))
    if len(names) != V1_ATTRIBUTES:
        raise UserError(f"{path}: attribute_eng has {len(names)} names, RAPv1 has {V1_ATTRIBUTES}")
    if y.ndim != 2 or y.shape != (len(images), V1_ATTRIBUTES):
        raise UserError(f"{path}: label has shape {y.shape}, expected ({len(images)}, {V1_ATTRIBUTES}): one row per "
                        f"imagesname, one column per attribute_eng")
    cells = np.asarray(field(ann, "partion", path, "RAP_annotation"), dtype=object).ravel()
    if len(cells) != N_PARTITIONS:
        raise UserError(f"{path}: partion has {len(cells)} partitions, expected {N_PARTITIONS}")
    parts = [{s: indices(field(c, j, path, f"partion {k}"), len(images), path, f"partion {k} {what} index")
              for j, (s, what) in enumerate((("train", "trainval"), ("test", "test")))} for k, c in enumerate(cells)]
    return images, names, y, parts


def read_rapv2(path: Path, ann: np.ndarray) -> tuple[list[str], list[str], np.ndarray, np.ndarray,
                                                     list[dict[str, np.ndarray]]]:
    """(image names, 152 names, data N×152, 54 selected 0-based columns in file order, 5 partitions)."""
    _fields(ann, path, ("name", "data", "attribute", "selected_attribute", "partition_attribute"), "RAPv2", "rapv1")
    images = strings(field(ann, "name", path, "RAP_annotation"))
    names = strings(field(ann, "attribute", path, "RAP_annotation"))
    data = np.asarray(field(ann, "data", path, "RAP_annotation"))
    if len(names) != V2_COLUMNS or data.ndim != 2 or data.shape != (len(images), V2_COLUMNS):
        raise UserError(f"{path}: data has shape {data.shape} and attribute {len(names)} names; expected "
                        f"({len(images)}, {V2_COLUMNS}) and {V2_COLUMNS}: one row per name, one column per attribute")
    selected = indices(field(ann, "selected_attribute", path, "RAP_annotation"), V2_COLUMNS, path,
                       "selected_attribute")
    if len(selected) != V2_SELECTED:
        raise UserError(f"{path}: selected_attribute lists {len(selected)} attributes, RAPv2 evaluates {V2_SELECTED}")
    cells = np.asarray(field(ann, "partition_attribute", path, "RAP_annotation"), dtype=object).ravel()
    if len(cells) != N_PARTITIONS:
        raise UserError(f"{path}: partition_attribute has {len(cells)} partitions, expected {N_PARTITIONS}")
    parts = [{s: indices(field(c, f"{s}_index", path, f"partition_attribute {k}"), len(images), path,
                         f"partition_attribute {k} {s}_index") for s in ("train", "val", "test")}
             for k, c in enumerate(cells)]
    return images, names, data, selected, parts


def rapv2_columns(selected: np.ndarray, attributes: str) -> list[int]:
    """format_rap2.py's columns: the selected ones in group order; for 'all' then colour, then the first 24
    remaining columns without the 16th (the viewpoint column, 111, not a binary attribute)."""
    chosen = np.asarray(selected)[V2_GROUP_ORDER].tolist()
    if attributes == "eval":
        return chosen
    extra = np.setdiff1d(range(V2_COLUMNS), V2_COLOR + chosen).tolist()[:24]
    return chosen + V2_COLOR + extra[:15] + extra[16:]


def prepare_v1(source: str | Path, stage: Path, seed: int = 0, attributes: str = "eval", partition: int = 0,
               uncertain: str = "unknown", val_fraction: float = 0.1, check_decode: bool = True, log=print,
               **_: object) -> Path:
    """Write the prepared RAPv1: partition ``partition``'s trainval (seeded val carved from it) and test."""
    check_options("rapv1", attributes, uncertain, partition, N_PARTITIONS)
    root, info = open_source(source, stage, INSTRUCTIONS)
    ann, mat, image_dir = _annotation(root)
    images, names, raw, parts = read_rapv1(mat, ann)
    columns = column_order(V1_ATTRIBUTES, V1_GROUP_ORDER, attributes)
    chosen = [names[c] for c in columns]
    y = labels(raw, columns, chosen, uncertain, mat, "label")
    splits = carve_split(split_column(parts[int(partition)], len(images), mat), "train", "val", val_fraction, seed)
    info.update({"split": f"official partition {partition} (trainval/test); val = seeded {val_fraction:g} of "
                          f"trainval (seed {seed})", "partition": int(partition), "split_seed": seed,
                 "val_fraction": val_fraction, "attributes": attributes, "uncertain": uncertain})
    return finish(stage, "rapv1", image_dir.relative_to(stage).as_posix(), images, splits, y, chosen, V1_OFFICIAL,
                  info, [mat], check_decode, log)


def prepare_v2(source: str | Path, stage: Path, seed: int = 0, attributes: str = "eval", partition: int = 0,
               uncertain: str = "unknown", check_decode: bool = True, log=print, **_: object) -> Path:
    """Write the prepared RAPv2: partition ``partition``'s official train/val/test."""
    check_options("rapv2", attributes, uncertain, partition, N_PARTITIONS)
    root, info = open_source(source, stage, INSTRUCTIONS)
    ann, mat, image_dir = _annotation(root)
    images, names, data, selected, parts = read_rapv2(mat, ann)
    columns = rapv2_columns(selected, attributes)
    chosen = [names[c] for c in columns]
    y = labels(data, columns, chosen, uncertain, mat, "data")
    splits = split_column(parts[int(partition)], len(images), mat)
    info.update({"split": f"official partition {partition} of partition_attribute (train/val/test)",
                 "partition": int(partition), "attributes": attributes, "uncertain": uncertain})
    return finish(stage, "rapv2", image_dir.relative_to(stage).as_posix(), images, splits, y, chosen, V2_OFFICIAL,
                  info, [mat], check_decode, log)


# what l2l.data.prepare.MODULES needs of a preparer (l2l.preflight reads INSTRUCTIONS too)
RAPV1 = SimpleNamespace(CONTENTS=CONTENTS + " of RAP v1", INSTRUCTIONS=INSTRUCTIONS, prepare=prepare_v1)
RAPV2 = SimpleNamespace(CONTENTS=CONTENTS + " of RAP v2", INSTRUCTIONS=INSTRUCTIONS, prepare=prepare_v2)
