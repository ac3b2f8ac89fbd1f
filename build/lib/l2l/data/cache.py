"""Prepare-time image cache: every image of a split decoded and resized once, stored as uint8.

One file per split and input size, ``<dataset>/cache/<split>_<H>x<W>.npy`` (N×3×H×W uint8, rows
in ``PreparedDataset.indices(split)`` order), with a sidecar ``.json`` recording the dataset's
content hash it was built from (:func:`l2l.data.fingerprint.data_sha256`: labels *and* image bytes, so a
dataset regenerated with the same labels but other pixels is noticed) and the decode it used
(:data:`DECODE`). Training then reads rows of a (memory-mapped) array instead
of decoding an image file per sample per epoch; the decode + resize is exactly the one of
:class:`l2l.data.loader.AttributeImageDataset`, so the cached pixels are the loader's pixels.

The sidecar is written before the array and both atomically, so a killed build leaves either no
array (rebuilt on the next run) or a complete one; a cache built from other data or by another decode is refused
with an error naming the fix instead of training on the wrong images.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2

from l2l.data.fingerprint import data_sha256
from l2l.data.format import PreparedDataset
from l2l.data.images import read_image
from l2l.errors import UserError
from l2l.io import write_json


DECODE = "rgb8-scaled/antialias-resize"  # change it whenever decode_resized's pixels change: old caches go stale


def cache_path(root: str | Path, split: str, image_size: Sequence[int]) -> Path:
    h, w = image_size
    return Path(root) / "cache" / f"{split}_{h}x{w}.npy"


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _rebuild_hint(data: PreparedDataset, image_size: Sequence[int]) -> str:
    h, w = image_size
    return f"rebuild it with `l2l cache --data {data.root} --image-size {h} {w}` (or set data.cache: false)"


def decode_resized(path: str | Path, image_size: Sequence[int]) -> torch.Tensor:
    """3×H×W uint8: the same decode and antialiased resize as the per-sample loader."""
    img = read_image(path)
    t = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
    return v2.functional.resize(t, list(image_size), antialias=True)


def build_cache(data: PreparedDataset, split: str, image_size: Sequence[int], force: bool = False) -> Path:
    """Decode every image of ``split`` once into the cache file (atomic); skip if already valid."""
    path = cache_path(data.root, split, image_size)
    if not force and path.is_file():
        try:
            check_cache(data, split, image_size)
            return path
        except UserError:
            pass  # stale or partial: rebuild below
    index = data.indices(split)
    h, w = image_size
    write_json(_sidecar(path), {"split": split, "image_size": [h, w], "count": int(len(index)),
                                "labels_sha256": data.meta.get("labels_sha256", ""),
                                "data_sha256": data_sha256(data.meta), "decode": DECODE})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(index), 3, h, w))
        for row, i in enumerate(index):
            arr[row] = decode_resized(data.root / data.images[i], image_size).numpy()
        arr.flush()
        del arr
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_cache(data: PreparedDataset, split: str, image_size: Sequence[int]) -> Path:
    """The cache file of ``split``, or a UserError if it is missing, partial or built from other labels."""
    path = cache_path(data.root, split, image_size)
    side = _sidecar(path)
    if not path.is_file() or not side.is_file():
        raise UserError(f"{path}: image cache missing; {_rebuild_hint(data, image_size)}")
    try:
        meta = json.loads(side.read_text())
    except (ValueError, OSError) as e:
        raise UserError(f"{side}: image cache sidecar unreadable ({e}); {_rebuild_hint(data, image_size)}") from e
    want = data_sha256(data.meta)
    if not isinstance(meta, dict) or meta.get("data_sha256") != want or \
            meta.get("labels_sha256") != data.meta.get("labels_sha256", ""):
        got = str(meta.get("data_sha256") or meta.get("labels_sha256")) if isinstance(meta, dict) else "?"
        raise UserError(f"{path}: image cache is stale (built from dataset content sha256 {got[:12]}, the "
                        f"dataset is now {want[:12]}: regenerated or re-prepared since); "
                        f"{_rebuild_hint(data, image_size)}")
    if meta.get("decode") != DECODE:
        raise UserError(f"{path}: image cache was built by another image decode ({meta.get('decode')!r}, this "
                        f"version uses {DECODE!r}); {_rebuild_hint(data, image_size)}")
    arr = np.load(path, mmap_mode="r")
    n = len(data.indices(split))
    if arr.shape != (n, 3, *image_size) or arr.dtype != np.uint8:
        raise UserError(f"{path}: image cache has shape {arr.shape} {arr.dtype}, expected "
                        f"({n}, 3, {image_size[0]}, {image_size[1]}) uint8; {_rebuild_hint(data, image_size)}")
    return path


def load_cache(data: PreparedDataset, split: str, image_size: Sequence[int], build: bool = True) -> np.ndarray:
    """Memory-mapped N×3×H×W uint8 of one split; built first when missing (and ``build``)."""
    path = cache_path(data.root, split, image_size)
    if build and not (path.is_file() and _sidecar(path).is_file()):
        build_cache(data, split, image_size)
    check_cache(data, split, image_size)
    return np.load(path, mmap_mode="r")
