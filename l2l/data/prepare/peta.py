"""PETA (Deng et al., ACM MM 2014): 19,000 pedestrian images, 105 binary attributes, 35 evaluated.

Read as the field reads it (Rethinking_of_PAR ``format_peta.py``; Dangwei Li's release layout)::

    PETA.mat     peta[0][0]: [0] data 19000 x 109 (4 identity columns, then the 105 labels 0/1)
                             [1] attribute: 105 names (the first 35 are the evaluated ones)
                             [3] partition_attribute: 5 partitions, each {train, val, test} 1-BASED rows
    images/00001.png ... images/19000.png   (row i is image i+1, zero-padded to 5 digits)

``--attributes eval`` keeps the 35 evaluated attributes in Rethinking_of_PAR's group order
(head, upper body, lower body, footwear, accessory, age, gender); ``all`` appends the other 70 in file
order. Each partition has 9,500 train / 1,900 val / 7,600 test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2l.data.prepare.common import find_first, open_source, require
from l2l.data.prepare.pedestrian import (check_options, column_order, field, finish, indices, labels, load_mat,
                                         split_column, strings)
from l2l.errors import UserError

NUM_ATTRIBUTES = 105
ID_COLUMNS = 4  # data's first columns: identity information, not labels
N_PARTITIONS = 5
# Rethinking_of_PAR format_peta.py group_order: the 35 evaluated columns (of the 105) in official order
GROUP_ORDER = [10, 18, 19, 30, 15, 7, 9, 11, 14, 21, 26, 29, 32, 33, 34, 6, 8, 12, 25, 27, 31, 13, 23, 24, 28, 4, 5,
               17, 20, 22, 0, 1, 2, 3, 16]
OFFICIAL = {"train": 9500, "val": 1900, "test": 7600}
CONTENTS = "PETA.mat and images/ (00001.png ... 19000.png)"
INSTRUCTIONS = (
    "PETA (http://mmlab.ie.cuhk.edu.hk/projects/PETA.html) is requested from its authors; the field uses the "
    "re-packaged release with PETA.mat and images/00001.png ... linked from "
    "https://github.com/dangweili/pedestrian-attribute-recognition-pytorch (Google Drive / Baidu Pan), which "
    "needs a browser.\n"
    f"Put {CONTENTS} into one folder and pass it as `l2l prepare peta --source FOLDER` (or set "
    "datasets.<name>.path to it)."
)


def read_peta(path: Path) -> tuple[list[str], np.ndarray, list[dict[str, np.ndarray]]]:
    """(105 attribute names, labels N×105, 5 partitions of 0-based rows), every shape checked."""
    peta = load_mat(path, "peta")
    data = np.asarray(field(peta, 0, path, "peta"))
    names = strings(field(peta, 1, path, "peta"))
    if len(names) != NUM_ATTRIBUTES:
        raise UserError(f"{path}: peta attribute list (field 2) has {len(names)} names, PETA has {NUM_ATTRIBUTES}")
    if data.ndim != 2 or data.shape[1] != ID_COLUMNS + NUM_ATTRIBUTES:
        raise UserError(f"{path}: peta data (field 1) has shape {data.shape}, expected (N, "
                        f"{ID_COLUMNS + NUM_ATTRIBUTES}): {ID_COLUMNS} identity columns then the labels")
    cells = np.asarray(field(peta, 3, path, "peta"), dtype=object).ravel()
    if len(cells) != N_PARTITIONS:
        raise UserError(f"{path}: peta partition_attribute (field 4) has {len(cells)} partitions, expected "
                        f"{N_PARTITIONS}")
    n = data.shape[0]
    parts = []
    for k, cell in enumerate(cells):
        parts.append({s: indices(field(cell, j, path, f"partition {k}"), n, path, f"partition {k} {s} index")
                      for j, s in enumerate(("train", "val", "test"))})
    return names, data[:, ID_COLUMNS:], parts


def prepare(source: str | Path, stage: Path, seed: int = 0, attributes: str = "eval", partition: int = 0,
            uncertain: str = "unknown", check_decode: bool = True, log=print, **_: object) -> Path:
    """Write the prepared PETA into ``stage``: partition ``partition``'s official train/val/test."""
    check_options("peta", attributes, uncertain, partition, N_PARTITIONS)
    root, info = open_source(source, stage, INSTRUCTIONS)
    mat = require(find_first(root, ["PETA.mat"]), "PETA.mat", root, INSTRUCTIONS)
    names, raw, parts = read_peta(mat)
    n = raw.shape[0]
    image_dir = require(mat.parent / "images", "the image folder images/", mat.parent, INSTRUCTIONS)
    columns = column_order(NUM_ATTRIBUTES, GROUP_ORDER, attributes)
    chosen = [names[c] for c in columns]
    y = labels(raw, columns, chosen, uncertain, mat, "peta data")
    splits = split_column(parts[int(partition)], n, mat)
    info.update({"split": f"official partition {partition} of PETA.mat (train/val/test)", "partition": int(partition),
                 "attributes": attributes, "uncertain": uncertain})
    return finish(stage, "peta", image_dir.relative_to(stage).as_posix(), [f"{i + 1:05d}.png" for i in range(n)],
                  splits, y, chosen, OFFICIAL, info, [mat], check_decode, log)
