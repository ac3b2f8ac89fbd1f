"""What a prepared dataset *is*, as one hash: its labels and the bytes of every image it lists.

``labels_sha256`` alone (the first round) misses a dataset regenerated or re-prepared at the same path
with the same labels but other pixels (``l2l generate --image-size 48`` after 32, another seed of the
renderer, re-prepared source images). Whatever depends on the data keys on :func:`data_sha256` instead:

* ``resume.ckpt`` records it; a rerun on other data refuses to resume (:func:`check_resume_data`),
  so epochs 1-2 on the old data and 3-6 on the new never end in one run folder;
* the image cache's sidecar records it (:mod:`l2l.data.cache`), so old pixels are never trained on.

The hash of the images is computed once, when the dataset is written (:func:`l2l.data.format.write_prepared`
stores ``images_sha256`` in ``meta.yaml``), not at every training start: reading PA-100K's 100k files each
time would cost more than a small run. A dataset written before this field existed falls back to its
``labels_sha256`` (what those checks compared before).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from l2l.errors import UserError


def images_sha256(root: str | Path, images: Iterable[str]) -> str:
    """sha256 over every image's relative path and bytes, in label-file order."""
    root, h = Path(root), hashlib.sha256()
    for rel in images:
        h.update(rel.encode() + b"\0")
        with open(root / rel, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def data_sha256(meta: Mapping[str, Any]) -> str:
    """The content hash of a prepared dataset from its ``meta.yaml``: labels and images together."""
    labels, images = str(meta.get("labels_sha256", "")), meta.get("images_sha256")
    if not images:
        return labels  # written before images_sha256 existed
    return hashlib.sha256(f"labels {labels} images {images}".encode()).hexdigest()


def check_resume_data(recorded: str | None, meta: Mapping[str, Any], data_root: Path, ckpt_path: Path) -> None:
    """Refuse to resume a run whose earlier epochs saw another version of the dataset.

    ``recorded`` is what the checkpoint stored (None: a checkpoint older than this check, trusted).
    """
    current = data_sha256(meta)
    if recorded is None or recorded == current:
        return
    raise UserError(f"{ckpt_path}: its epochs were trained on another version of {data_root} (content sha256 "
                    f"{recorded[:12]}, now {current[:12]}: regenerated or re-prepared since); delete {ckpt_path} "
                    f"to start the run over on the new data, or restore the old dataset to resume")
