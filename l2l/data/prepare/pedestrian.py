"""What the field's preparers share (PETA, RAPv1, RAPv2, PETAzs, RAPzs, CelebA): options, MATLAB reading,
index and label checks, and the final write.

The pedestrian sets are read as Rethinking_of_PAR (github.com/valencebond/Rethinking_of_PAR,
``dataset/pedes_attr/preprocess/format_*.py``) reads them, so the attributes evaluated, their order and the
splits are the ones the field's numbers are reported on:

* ``attributes='eval'`` (default): the evaluated subset in that code's official (group) order;
  ``'all'``: that subset first, then every other binary attribute in the file's order.
* ``partition=K`` (default 0): which of the release's partitions (PETA, RAP: 5) gives the splits.
* ``uncertain='unknown'`` (default): a label 2 ("uncertain", RAP) becomes unknown, an empty cell in
  labels.csv, excluded from loss and metrics; ``'zero'`` maps it to 0 as Rethinking_of_PAR does
  (``attr_label[attr_label == 2] = 0`` in ``pedes.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from l2l.data.format import UNKNOWN, write_prepared
from l2l.data.prepare.common import SOURCE_DIR, check_images, file_hashes, read_mat, report_counts
from l2l.errors import UserError

ATTRIBUTE_SETS = ("eval", "all")
UNCERTAIN = ("unknown", "zero")
SPLIT_ORDER = ("train", "val", "test")


def check_options(kind: str, attributes: str, uncertain: str, partition: int, n_partitions: int | None) -> None:
    """Refuse an option value before any file is read; ``n_partitions`` None: checked once the file is read."""
    if attributes not in ATTRIBUTE_SETS:
        raise UserError(f"{kind}: --attributes {attributes!r}; choose one of {', '.join(ATTRIBUTE_SETS)}")
    if uncertain not in UNCERTAIN:
        raise UserError(f"{kind}: --uncertain {uncertain!r}; choose one of {', '.join(UNCERTAIN)}")
    if n_partitions is not None and not 0 <= int(partition) < n_partitions:
        raise UserError(f"{kind}: --partition {partition} does not exist; the release has partitions "
                        f"0..{n_partitions - 1}")


def load_mat(path: Path, variable: str) -> np.ndarray:
    """``variable`` of a MATLAB v5/v7 file; a v7.3, unreadable or wrong file is a UserError naming it."""
    mat = read_mat(path)
    if variable not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__")) or "nothing"
        raise UserError(f"{path}: no variable '{variable}' (found: {found}); is this the release's file?")
    return mat[variable]


def strings(cell: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (as scipy loads it, cells nested in 1-element arrays) → list of str."""
    out = []
    for item in np.asarray(cell, dtype=object).ravel():
        while isinstance(item, np.ndarray):
            item = item.ravel()[0] if item.size else ""
        out.append(str(item).strip())
    return out


def field(struct: np.ndarray, name: str | int, path: Path, what: str) -> np.ndarray:
    """Field ``name`` (or the ``name``-th field) of a 1×1 MATLAB struct as scipy loads it."""
    flat = np.asarray(struct).ravel()
    names = getattr(getattr(flat[0], "dtype", None), "names", None) if flat.size else None
    try:
        return flat[0][name if isinstance(name, str) else names[name]]
    except (IndexError, KeyError, ValueError, TypeError) as e:
        wanted = repr(name) if isinstance(name, str) else f"number {name + 1}"
        raise UserError(f"{path}: {what} has no field {wanted} (fields: {', '.join(names or ()) or 'none: not a '}"
                        f"{'' if names else 'struct'}); is this the release's file?") from e


def indices(values: np.ndarray, n: int, path: Path, what: str, one_based: bool = True) -> np.ndarray:
    """Row indices (1-based in MATLAB files, 0-based in the zero-shot pickles) → 0-based, each checked."""
    idx = np.asarray(values).ravel()
    if idx.size == 0:
        raise UserError(f"{path}: {what} is empty; is this the release's file?")
    if not np.issubdtype(idx.dtype, np.number) or not np.all(np.equal(np.mod(idx, 1), 0)):
        raise UserError(f"{path}: {what} holds non-integer values; expected image row numbers")
    idx = idx.astype(np.int64) - (1 if one_based else 0)
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        base = "1-based" if one_based else "0-based"
        raise UserError(f"{path}: {what} holds {bad[0] + (1 if one_based else 0)}, outside the {n} images "
                        f"({base} row numbers); the file is damaged or belongs to another release")
    if np.unique(idx).size != idx.size:
        raise UserError(f"{path}: {what} lists an image twice; the file is damaged")
    return idx


def split_column(parts: dict[str, np.ndarray], n: int, path: Path) -> np.ndarray:
    """Split name per image row ('' = in no split) from {split: 0-based rows}; overlapping splits refused."""
    out = np.full(n, "", dtype=object)
    for split, rows in parts.items():
        clash = rows[out[rows] != ""]
        if clash.size:
            raise UserError(f"{path}: image row {clash[0] + 1} is in both {out[clash[0]]} and {split}; "
                            f"the partition is damaged")
        out[rows] = split
    return out


def column_order(n_columns: int, eval_columns: Sequence[int], attributes: str) -> list[int]:
    """The evaluated columns in official order, then (``all``) every other column in file order."""
    eval_columns = [int(c) for c in eval_columns]
    if attributes == "eval":
        return eval_columns
    chosen = set(eval_columns)
    return eval_columns + [c for c in range(n_columns) if c not in chosen]


def labels(raw: np.ndarray, columns: Sequence[int], names: Sequence[str], uncertain: str, path: Path,
           what: str) -> np.ndarray:
    """The chosen columns as int8 1/0/UNKNOWN; a value other than 0, 1, 2 is a UserError naming the cell."""
    y = np.asarray(raw)[:, list(columns)]
    bad = ~np.isin(y, (0, 1, 2))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        v = y[r, c]
        shown = f"{float(v):g}" if isinstance(v, (int, float, np.number)) else repr(v)
        raise UserError(f"{path}: {what} row {r + 1}, attribute '{names[c]}' is {shown}; labels must be "
                        f"0, 1 or 2 (uncertain); is this the release's file?")
    y = y.astype(np.int8)
    y[y == 2] = UNKNOWN if uncertain == "unknown" else 0
    return y


def finish(stage: Path, name: str, image_prefix: str, image_names: Sequence[str], splits: np.ndarray,
           y: np.ndarray, attributes: list[str], official: dict[str, int], info: dict, hashed: Sequence[Path],
           check_decode: bool, log) -> Path:
    """Rows in split order (train, val, test; file order within), images checked, then labels.csv + meta.yaml."""
    order = np.concatenate([np.flatnonzero(splits == s) for s in SPLIT_ORDER])
    images = [f"{image_prefix}/{image_names[i]}" for i in order]
    check_images(stage, images, decode=check_decode, log=log)
    counts = {s: int((splits == s).sum()) for s in official if "+" not in s}
    if "train+val" in official:
        counts["train+val"] = int(np.isin(splits, ("train", "val")).sum())
    info.update({"dataset": name, "files_sha256": file_hashes(list(hashed), stage / SOURCE_DIR),
                 "split_sizes": report_counts({k: counts[k] for k in official}, official, log),
                 "image_dir": image_prefix})
    return write_prepared(stage, name, attributes, images, splits[order].astype(str), y[order], info)
