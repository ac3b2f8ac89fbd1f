"""The prepared-dataset format that every dataset is converted into.

A folder with::

    labels.csv   image,split,<attr_1>,...,<attr_M>   (1, 0, or empty = unknown)
    meta.yaml    name, attributes (in order), groups, source, labels_sha256, images_sha256, counts
    <images>     paths in labels.csv are relative to the folder

One format means one loader, one set of checks and one place to look when a
number is off, whatever the source dataset was.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np
import pandas as pd

from l2l.data.fingerprint import images_sha256
from l2l.errors import UserError
from l2l.io import atomic_write, read_yaml, write_yaml

SPLITS = ("train", "val", "test")
RESERVED_COLUMNS = ("image", "split")  # labels.csv's own columns: no attribute may take these names
UNKNOWN = -1  # label value for an empty cell: excluded from loss and metrics


@dataclass
class PreparedDataset:
    root: Path
    name: str
    attributes: list[str]
    groups: dict[str, list[str]]
    images: list[str]  # relative paths
    splits: np.ndarray  # str per image
    labels: np.ndarray  # int8 N×M with 1, 0, UNKNOWN
    meta: dict[str, Any] = field(default_factory=dict)

    def indices(self, split: str | list[str]) -> np.ndarray:
        wanted = [split] if isinstance(split, str) else list(split)
        return np.flatnonzero(np.isin(self.splits, wanted))

    def positive_rate(self, split: str | list[str] = "train") -> np.ndarray:
        """Fraction of positives among known labels, per attribute (for PA-100K loss weights)."""
        y = self.labels[self.indices(split)]
        known = y != UNKNOWN
        return (y == 1).sum(0) / np.maximum(known.sum(0), 1)


def escapes_folder(rel: str) -> bool:
    """True when image path ``rel`` is empty, absolute, or climbs out of its folder with ``..``.

    A label file is data, possibly from someone else: its paths must never make us open (or link, or
    decode) a file outside the dataset, such as ``../../../../etc/hostname``. Checked on the text
    alone, before any file is touched.
    """
    if not rel or rel.startswith(("/", "\\")) or PureWindowsPath(rel).drive:
        return True
    parts = posixpath.normpath(rel.replace("\\", "/")).split("/")
    return parts[0] in ("..", ".") or ".." in parts


def bad_attribute_names(attributes: list[str]) -> list[tuple[int, str]]:
    """(position, name) of attribute names labels.csv cannot hold: empty, or one of its own columns."""
    return [(j, a) for j, a in enumerate(attributes) if not str(a).strip() or a in RESERVED_COLUMNS]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_prepared(
    root: str | Path,
    name: str,
    attributes: list[str],
    images: list[str],
    splits: list[str] | np.ndarray,
    labels: np.ndarray,
    source: dict[str, Any] | str,
    groups: dict[str, list[str]] | None = None,
) -> Path:
    """Write labels.csv then meta.yaml (last, so its presence marks a complete dataset)."""
    root = Path(root)
    labels = np.asarray(labels)
    if labels.shape != (len(images), len(attributes)):
        raise ValueError(f"labels shape {labels.shape} != ({len(images)}, {len(attributes)})")
    bad = sorted(set(np.unique(splits)) - set(SPLITS))
    if bad:
        raise ValueError(f"unknown split name(s) {bad}; use {SPLITS}")
    if bad_attribute_names(attributes):
        raise ValueError(f"attribute name(s) {bad_attribute_names(attributes)} are empty or reserved "
                         f"{RESERVED_COLUMNS}")
    df = pd.DataFrame({"image": list(images), "split": list(splits)})
    cols = {a: pd.array(np.where(labels[:, j] == UNKNOWN, pd.NA, labels[:, j]), dtype="Int8")
            for j, a in enumerate(attributes)}
    df = pd.concat([df, pd.DataFrame(cols)], axis=1)
    atomic_write(root / "labels.csv", lambda p: df.to_csv(p, index=False))
    counts = {s: int((np.asarray(splits) == s).sum()) for s in SPLITS}
    meta = {
        "name": name,
        "attributes": list(attributes),
        "groups": groups or {},
        "source": source,
        "num_images": len(images),
        "splits": counts,
        "labels_sha256": sha256_file(root / "labels.csv"),
        "images_sha256": images_sha256(root, images),  # l2l.data.fingerprint: resume and cache key on it
    }
    write_yaml(root / "meta.yaml", meta)
    return root


def _fail(path: Path, msg: str) -> UserError:
    return UserError(f"{path}: {msg}")


def load_prepared(root: str | Path, check_images: bool = True) -> PreparedDataset:
    """Read and validate a prepared dataset; every problem names the file and the fix."""
    root = Path(root)
    meta_path, labels_path = root / "meta.yaml", root / "labels.csv"
    if not root.is_dir():
        raise UserError(f"dataset folder {root} does not exist; run the prepare step "
                        f"(`l2l prepare ...` or the Snakemake rule) or fix data.path")
    for p in (meta_path, labels_path):
        if not p.is_file():
            raise _fail(p, "missing; the folder is not a prepared dataset (re-run `l2l prepare`)")
    meta = read_yaml(meta_path) or {}
    attributes = meta.get("attributes")
    if not isinstance(attributes, list) or not attributes:
        raise _fail(meta_path, "has no 'attributes' list; re-run `l2l prepare`")
    expected_sha = meta.get("labels_sha256")
    if expected_sha and sha256_file(labels_path) != expected_sha:
        raise _fail(labels_path, "does not match labels_sha256 in meta.yaml (edited or truncated "
                                 "after preparation); re-run `l2l prepare`")
    try:
        df = pd.read_csv(labels_path, dtype={"image": str, "split": str})
    except Exception as e:  # pandas raises many types for malformed CSV
        raise _fail(labels_path, f"cannot be parsed as CSV ({e}); re-run `l2l prepare`") from e
    want = ["image", "split", *attributes]
    if list(df.columns) != want:
        missing = [c for c in want if c not in df.columns]
        extra = [c for c in df.columns if c not in want]
        raise _fail(labels_path, f"columns do not match meta.yaml (missing: {missing or 'none'}, "
                                 f"unexpected: {extra or 'none'}); expected image,split,<attributes>")
    bad_split = sorted(set(df["split"].dropna()) - set(SPLITS)) or (["<empty>"] if df["split"].isna().any() else [])
    if bad_split:
        raise _fail(labels_path, f"unknown split value(s) {bad_split}; allowed: {', '.join(SPLITS)}")
    values = df[attributes].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isnan(values) & ~np.isin(values, (0.0, 1.0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise _fail(labels_path, f"row {r + 2}, column '{attributes[c]}' has {values[r, c]!r}; "
                                 f"labels must be 1, 0 or empty (unknown)")
    labels = np.where(np.isnan(values), UNKNOWN, values).astype(np.int8)
    images = df["image"].tolist()
    outside = [r for r, p in enumerate(images) if not isinstance(p, str) or escapes_folder(p)]
    if outside:
        raise _fail(labels_path, f"row {outside[0] + 2}: image path '{images[outside[0]]}' leaves the dataset "
                                 f"folder (absolute, or '..'); re-run `l2l prepare`")
    if check_images:
        missing = [p for p in images if not (root / p).is_file()]
        if missing:
            raise _fail(root, f"{len(missing)} image(s) listed in labels.csv are missing, e.g. "
                              f"{missing[0]}; re-run `l2l prepare` or restore the images")
    return PreparedDataset(
        root=root, name=str(meta.get("name", root.name)), attributes=list(attributes),
        groups=dict(meta.get("groups") or {}), images=images,
        splits=df["split"].to_numpy(dtype=str), labels=labels, meta=meta,
    )
