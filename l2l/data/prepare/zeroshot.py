"""PETAzs and RAPzs (Jia et al., "Rethinking of Pedestrian Attribute Recognition", 2021): PETA and RAPv2
re-split so that no person is in two splits (the other splits let the same identity into train and test).

Rethinking_of_PAR distributes each as ``dataset_zs_run0.pkl`` (in its repository, ``data/PETA/`` and
``data/RAP2/``), a pickled ``easydict.EasyDict`` written by ``format_peta.py`` / ``format_rap2.py``:
``image_name`` (list), ``label`` (N x 105 for PETA; N x 119 for RAPv2, its kept columns), ``attr_name``,
``label_idx.eval`` (PETAzs: the 35 in group order; RAPzs: 53, RAPv2's 54 without Age46-60) and
``partition.train / val / test``: **0-based** rows (PETAzs 11,241 / 3,826 / 3,933 covering all 19,000
images; RAPzs 17,062 / 4,648 / 4,928, a subset of RAPv2's 84,928). The file is read with
:mod:`l2l.data.safe_pickle`, never plain pickle. Put it beside the images of the release:

    PETAzs:  dataset_zs_run0.pkl and images/ (PETA's 00001.png ...)
    RAPzs:   dataset_zs_run0.pkl and RAP_dataset/ (RAPv2's images)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from l2l.data import safe_pickle
from l2l.data.prepare.common import find_first, open_source, require
from l2l.data.prepare.pedestrian import check_options, column_order, finish, indices, labels, split_column
from l2l.errors import UserError

PICKLE = "dataset_zs_run0.pkl"
SETS = {
    "petazs": {"images": "images", "eval": 35, "official": {"train": 11241, "val": 3826, "test": 3933},
               "release": "PETA", "folder": "data/PETA"},
    "rapzs": {"images": "RAP_dataset", "eval": 53, "official": {"train": 17062, "val": 4648, "test": 4928},
              "release": "RAPv2", "folder": "data/RAP2"},
}


def instructions(kind: str) -> str:
    s = SETS[kind]
    return (f"{kind}: download {PICKLE} from https://github.com/valencebond/Rethinking_of_PAR ({s['folder']}/) "
            f"and get the {s['release']} images (`l2l prepare {'peta' if kind == 'petazs' else 'rapv2'} --help` says "
            f"where).\nPut {PICKLE} and {s['images']}/ into one folder and pass it as "
            f"`l2l prepare {kind} --source FOLDER` (or set datasets.<name>.path to it).")


def _get(d: Any, key: str, path: Path, what: str = "the pickle") -> Any:
    if not isinstance(d, Mapping) or key not in d:
        found = ", ".join(map(str, d)) if isinstance(d, Mapping) else type(d).__name__
        raise UserError(f"{path}: {what} has no '{key}' (found: {found}); is this Rethinking_of_PAR's "
                        f"{PICKLE}?")
    return d[key]


def read_zs(path: Path, partition: int) -> dict[str, Any]:
    """The zero-shot split file's names, labels, evaluated columns and partition (0-based rows), checked."""
    d = safe_pickle.load(path)
    images = [str(x) for x in _get(d, "image_name", path)]
    names = [str(x) for x in _get(d, "attr_name", path)]
    y = np.asarray(_get(d, "label", path))
    if y.ndim != 2 or y.shape != (len(images), len(names)):
        raise UserError(f"{path}: label has shape {y.shape}, expected ({len(images)}, {len(names)}): one row per "
                        f"image_name, one column per attr_name")
    if "label_idx" in d:  # Rethinking_of_PAR's pedes.py: without label_idx every column is evaluated
        eval_idx = [int(i) for i in indices(_get(d["label_idx"], "eval", path, "label_idx"), len(names), path,
                                            "label_idx.eval", one_based=False)]
    else:
        eval_idx = list(range(len(names)))
    part = _get(d, "partition", path)
    rows = {}
    for s in ("train", "val", "test"):
        value = _get(part, s, path, "partition")
        if isinstance(value, list):  # dataset_all.pkl style: one entry per partition
            if not 0 <= partition < len(value):
                raise UserError(f"{path}: --partition {partition} does not exist; the file has partitions "
                                f"0..{len(value) - 1}")
            value = value[partition]
        elif partition != 0:
            raise UserError(f"{path}: the file holds one partition; --partition must be 0 (got {partition})")
        rows[s] = indices(value, len(images), path, f"partition.{s}", one_based=False)
    return {"images": images, "names": names, "labels": y, "eval": eval_idx, "rows": rows}


def _prepare(kind: str, source: str | Path, stage: Path, seed: int = 0, attributes: str = "eval",
             partition: int = 0, uncertain: str = "unknown", check_decode: bool = True, log=print,
             **_: object) -> Path:
    check_options(kind, attributes, uncertain, partition, None)
    s = SETS[kind]
    root, info = open_source(source, stage, instructions(kind))
    path = require(find_first(root, [PICKLE]), PICKLE, root, instructions(kind))
    image_dir = require(path.parent / s["images"], f"the image folder {s['images']}/", path.parent,
                        instructions(kind))
    z = read_zs(path, int(partition))
    if len(z["eval"]) != s["eval"]:
        log(f"note: {path.name} evaluates {len(z['eval'])} attributes; the published {kind} evaluates {s['eval']}")
    columns = column_order(len(z["names"]), z["eval"], attributes)
    chosen = [z["names"][c] for c in columns]
    y = labels(z["labels"], columns, chosen, uncertain, path, "label")
    splits = split_column(z["rows"], len(z["images"]), path)
    info.update({"split": f"zero-shot (identity-disjoint) train/val/test of {PICKLE}", "partition": int(partition),
                 "attributes": attributes, "uncertain": uncertain, "evaluated": len(z["eval"])})
    return finish(stage, kind, image_dir.relative_to(stage).as_posix(), z["images"], splits, y, chosen,
                  s["official"], info, [path], check_decode, log)


def prepare_petazs(source: str | Path, stage: Path, **options: Any) -> Path:
    """PETAzs: PETA's images with Rethinking_of_PAR's identity-disjoint split."""
    return _prepare("petazs", source, stage, **options)


def prepare_rapzs(source: str | Path, stage: Path, **options: Any) -> Path:
    """RAPzs: RAPv2's images with Rethinking_of_PAR's identity-disjoint split."""
    return _prepare("rapzs", source, stage, **options)


# what l2l.data.prepare.MODULES needs of a preparer (l2l.preflight reads INSTRUCTIONS too)
PETAZS = SimpleNamespace(CONTENTS=f"{PICKLE} and images/ (PETA's)", INSTRUCTIONS=instructions("petazs"),
                         prepare=prepare_petazs)
RAPZS = SimpleNamespace(CONTENTS=f"{PICKLE} and RAP_dataset/ (RAPv2's)", INSTRUCTIONS=instructions("rapzs"),
                        prepare=prepare_rapzs)
