"""CelebA (Liu et al., ICCV 2015): 202,599 aligned face images, 40 binary attributes (LFWA's 40).

As released::

    list_attr_celeba.txt     line 1: the image count; line 2: the 40 names; then ``000001.jpg -1  1 ...``
    list_eval_partition.txt  ``000001.jpg 0`` (0 train, 1 val, 2 test: 162,770 / 19,867 / 19,962)
    img_align_celeba/        000001.jpg ... 202599.jpg

either flat in one folder, or nested as the Google Drive release has them: ``Anno/list_attr_celeba.txt``,
``Eval/list_eval_partition.txt``, ``Img/img_align_celeba/`` (unzip ``Img/img_align_celeba.zip`` first).
All 40 attributes are evaluated (``eval`` = ``all``), ±1 becomes 1/0, and the official split is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2l.data.prepare.common import find_first, open_source, require
from l2l.data.prepare.pedestrian import check_options, finish
from l2l.errors import UserError

NUM_ATTRIBUTES = 40
OFFICIAL = {"train": 162770, "val": 19867, "test": 19962}
SPLIT_CODES = {"0": "train", "1": "val", "2": "test"}
ATTR_FILES = ["list_attr_celeba.txt", "Anno/list_attr_celeba.txt"]
PARTITION_FILES = ["list_eval_partition.txt", "Eval/list_eval_partition.txt", "Anno/list_eval_partition.txt"]
IMAGE_DIRS = ["img_align_celeba", "Img/img_align_celeba", "img_align_celeba/img_align_celeba",
              "Img/img_align_celeba/img_align_celeba"]
CONTENTS = ("list_attr_celeba.txt, list_eval_partition.txt and img_align_celeba/ (flat, or the Google Drive's "
            "Anno/, Eval/ and Img/img_align_celeba/)")
INSTRUCTIONS = (
    "CelebA is distributed through Google Drive / Baidu Pan by its authors "
    "(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, 'Align&Cropped Images' and the Anno/ and Eval/ "
    "folders), which needs a browser; download Anno/list_attr_celeba.txt, Eval/list_eval_partition.txt and "
    "Img/img_align_celeba.zip, and unzip the images.\n"
    f"Put {CONTENTS} into one folder and pass it as `l2l prepare celeba --source FOLDER` (or set "
    "datasets.<name>.path to it)."
)


def read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(40 names, image files, labels N×40 in {0, 1}); the count line and every row are checked.

    pandas' C parser reads the 202,599 rows several times faster than splitting lines in Python."""
    import pandas as pd

    with open(path) as f:
        count, names = f.readline().split(), f.readline().split()
    if len(count) != 1 or not count[0].isdigit() or not names:
        raise UserError(f"{path}: the first line must be the image count, the second the {NUM_ATTRIBUTES} "
                        f"attribute names; is this CelebA's list_attr_celeba.txt?")
    if len(names) != NUM_ATTRIBUTES:
        raise UserError(f"{path}: line 2 names {len(names)} attributes, CelebA has {NUM_ATTRIBUTES}")
    try:
        table = pd.read_csv(path, sep=r"\s+", skiprows=2, header=None, dtype={0: str})
    except pd.errors.EmptyDataError:
        table = pd.DataFrame(columns=range(NUM_ATTRIBUTES + 1))
    except pd.errors.ParserError as e:  # a row with more fields than the first: say which line
        raise UserError(f"{path}: a line has more than 'image' and {NUM_ATTRIBUTES} values ({e})") from e
    if int(count[0]) != len(table):
        raise UserError(f"{path}: line 1 says {count[0]} images but {len(table)} follow; the file is truncated, "
                        f"download it again")
    values = table.iloc[:, 1:].to_numpy() if table.shape[1] == NUM_ATTRIBUTES + 1 else None
    bad = np.flatnonzero(~((values == 1) | (values == -1)).all(axis=1)) if values is not None else [0]
    if len(bad):
        row = " ".join(table.iloc[bad[0], :4].astype(str))
        raise UserError(f"{path}: line {bad[0] + 3} is not 'image' then {NUM_ATTRIBUTES} values 1 / -1: {row} ...")
    return names, table.iloc[:, 0].tolist(), (values == 1).astype(np.int8)


def read_partition(path: Path) -> dict[str, str]:
    """image file -> train / val / test."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2 or tokens[1] not in SPLIT_CODES:
            raise UserError(f"{path}: line {number} is not 'image 0|1|2': {line.strip()!r}")
        out[tokens[0]] = SPLIT_CODES[tokens[1]]
    return out


def prepare(source: str | Path, stage: Path, seed: int = 0, attributes: str = "eval", partition: int = 0,
            uncertain: str = "unknown", check_decode: bool = True, log=print, **_: object) -> Path:
    """Write the prepared CelebA into ``stage``: the official split, the 40 attributes in file order."""
    check_options("celeba", attributes, uncertain, partition, 1)
    root, info = open_source(source, stage, INSTRUCTIONS)
    attr_file = require(find_first(root, ATTR_FILES), "list_attr_celeba.txt (or Anno/list_attr_celeba.txt)", root,
                        INSTRUCTIONS)
    part_file = require(find_first(root, PARTITION_FILES), "list_eval_partition.txt (or Eval/list_eval_partition.txt)",
                        root, INSTRUCTIONS)
    names, files, y = read_attributes(attr_file)
    split_of = read_partition(part_file)
    missing = [f for f in files if f not in split_of]
    if missing:
        raise UserError(f"{part_file}: no split for {missing[0]} ({len(missing)} images of {attr_file.name} missing); "
                        f"the two files come from different releases or one is truncated")
    base = attr_file.parent.parent if attr_file.parent.name == "Anno" else attr_file.parent
    image_dir = next((base / d for d in IMAGE_DIRS if (base / d / files[0]).is_file()), None)
    if image_dir is None and any((base / z).is_file() for z in ("img_align_celeba.zip", "Img/img_align_celeba.zip")):
        raise UserError(f"{base}: img_align_celeba.zip is not unpacked; unzip it in place (so that "
                        f"img_align_celeba/{files[0]} exists) and prepare again")
    image_dir = require(image_dir, f"the image folder img_align_celeba/ (or Img/img_align_celeba/) holding "
                        f"{files[0]}", base, INSTRUCTIONS)
    splits = np.array([split_of[f] for f in files], dtype=object)
    info.update({"split": "official (list_eval_partition.txt)", "attributes": "all 40 (eval = all)"})
    return finish(stage, "celeba", image_dir.relative_to(stage).as_posix(), files, splits, y, names, OFFICIAL, info,
                  [attr_file, part_file], check_decode, log)
