"""LFWA (Liu et al., ICCV 2015): 13,143 LFW face images, 40 attributes, 6,263 train / 6,880 test.

Labels and split come as list files, one per split, one line per image::

    relative/path/to/image.jpg a1 a2 ... a40      (values ±1 or 0/1; > 0 means present)

which is how the official Label2Label code reads them. The image paths are relative to the
source folder or to its ``lfw/`` (or ``images/``) subfolder. The attribute names are the
40 CelebA/LFWA names below unless the list file starts with a header line naming 40 attributes
(a first line holding only the image count, as in CelebA-style files, is skipped).
No validation split is defined: a seeded ``val_fraction`` of train becomes ``val`` in labels.csv.

The official code's layout is accepted as it is: ``train_lfwa.txt``, ``val_lfwa.txt`` and ``lfw/``
(``Face_Attribute/README.md``). Despite its name, ``val_lfwa.txt`` holds the 6,880 TEST images (the
official code evaluates and selects its epoch on it), so it becomes the ``test`` split here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2l.data.format import write_prepared
from l2l.data.prepare.common import (SOURCE_DIR, carve_split, check_images, file_hashes, find_first,
                                     open_source, report_counts, require)
from l2l.errors import UserError

ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
    "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
    "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
]
OFFICIAL = {"train+val": 6263, "test": 6880}
LIST_NAMES = {"train": ["train.txt", "lfwa_train.txt", "anno/train.txt", "train_list.txt", "train_lfwa.txt"],
              "test": ["test.txt", "lfwa_test.txt", "anno/test.txt", "test_list.txt", "val_lfwa.txt"]}
IMAGE_ROOTS = (".", "lfw", "images", "lfw-deepfunneled", "lfw_cropped")
CONTENTS = ("train.txt and test.txt (one line per image: relative/image/path followed by 40 values ±1 or 0/1) "
            "and the LFW images at the paths those lists give (relative to the folder or to its lfw/ subfolder); "
            "the official code's train_lfwa.txt and val_lfwa.txt (its test split) with lfw/ work as they are")
INSTRUCTIONS = (
    "LFWA labels are distributed by the CelebA/LFWA authors through Google Drive / Baidu Pan "
    "(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, 'LFWA Dataset' link), which needs a browser; "
    "the images are the LFW release (http://vis-www.cs.umass.edu/lfw/lfw.tgz).\n"
    f"Put into one folder {CONTENTS}, and set datasets.lfwa.path to that folder (default data/lfwa, relative "
    "to the working directory), or pass it as `l2l prepare lfwa --source FOLDER`."
)


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def read_list(path: Path, n_attributes: int = len(ATTRIBUTES)) -> tuple[list[str] | None, list[str], np.ndarray]:
    """(attribute names from a header or None, image paths, labels N×40 in {0,1}); a bad line is an error."""
    header, images, rows = None, [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            if not images and len(tokens) == 1 and tokens[0].isdigit():
                continue  # CelebA-style count line
            if not images and header is None and not any(_is_number(t) for t in tokens[-n_attributes:]):
                header = tokens[-n_attributes:]
                continue
            if len(tokens) != n_attributes + 1:
                raise UserError(f"{path}: line {number} has {len(tokens) - 1} label values, expected "
                                f"{n_attributes} (format: image_path a1 ... a{n_attributes})")
            try:
                values = [float(t) for t in tokens[1:]]
            except ValueError as e:
                raise UserError(f"{path}: line {number} has a non-numeric label value ({e})") from e
            images.append(tokens[0])
            rows.append(values)
    if not images:
        raise UserError(f"{path}: no image lines; expected 'image_path a1 ... a{n_attributes}' per line")
    values = np.array(rows)
    if not np.isin(values, (-1, 0, 1)).all():
        r, c = np.argwhere(~np.isin(values, (-1, 0, 1)))[0]
        raise UserError(f"{path}: image {images[r]} attribute {c + 1} is {values[r, c]:g}; values must be ±1 or 0/1")
    return header, images, (values > 0).astype(np.int8)


def prepare(source: str | Path, stage: Path, seed: int = 0, val_fraction: float = 0.1,
            check_decode: bool = True, log=print, **_: object) -> Path:
    """Write the prepared LFWA into ``stage``: official train/test, seeded val carved from train."""
    root, info = open_source(source, stage, INSTRUCTIONS)
    lists = {s: require(find_first(root, names), f"the {s} list file ({' or '.join(names[:2])})", root, INSTRUCTIONS)
             for s, names in LIST_NAMES.items()}
    parsed = {s: read_list(p) for s, p in lists.items()}
    header = parsed["train"][0] or parsed["test"][0]
    attributes = header or ATTRIBUTES
    base = lists["train"].parent
    first = parsed["train"][1][0]
    image_root = next((base / d for d in IMAGE_ROOTS if (base / d / first).is_file()), None)
    image_root = require(image_root, f"the image {first} named in {lists['train'].name}", base, INSTRUCTIONS)
    prefix = image_root.relative_to(stage).as_posix()
    images = [f"{prefix}/{p}" for s in ("train", "test") for p in parsed[s][1]]
    labels = np.concatenate([parsed["train"][2], parsed["test"][2]])
    splits = np.array(["train"] * len(parsed["train"][1]) + ["test"] * len(parsed["test"][1]))
    check_images(stage, images, decode=check_decode, log=log)
    counts = report_counts({"train+val": len(parsed["train"][1]), "test": len(parsed["test"][1])}, OFFICIAL, log)
    splits = carve_split(splits, "train", "val", val_fraction, seed)
    info.update({"dataset": "lfwa", "files_sha256": file_hashes(list(lists.values()), stage / SOURCE_DIR),
                 "split": f"official train/test; val = seeded {val_fraction:g} of train (seed {seed})",
                 "split_seed": seed, "val_fraction": val_fraction, "split_sizes": counts, "image_dir": prefix})
    return write_prepared(stage, "lfwa", attributes, images, splits, labels, info)
