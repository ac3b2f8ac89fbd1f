"""Use a trained run on new images: per image, each attribute's probability and 0/1 decision.

The model is rebuilt from the run's ``config.yaml`` and loaded from its ``model.pt``; images go
through the same decoding, resizing and normalisation as the run's test split
(:func:`l2l.data.loader.decode_image` + :func:`~l2l.data.loader.build_transform`) and the same
forward pass (:func:`l2l.engine.predict`), so predictions on the test images reproduce the run's
test metrics.

Output CSV (``--out``), one row per readable image, in sorted path order::

    image, <attr_1>_prob, <attr_1>_pred, ..., <attr_M>_prob, <attr_M>_pred

``<attr>_prob`` is the sigmoid output of the head's final prediction (for Label2Label the IC-MLM),
``<attr>_pred`` is 1 when ``<attr>_prob > threshold`` (0.5, as in every metric) else 0; attributes
keep the order of the training dataset's ``meta.yaml``.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from l2l.data.images import BadImage
from l2l.data.loader import build_transform, decode_image
from l2l.engine import predict
from l2l.errors import UserError
from l2l.io import atomic_write
from l2l.run_folder import LoadedRun, load_run  # noqa: F401 (load_run is part of this module's API)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
ON_ERROR = ("skip", "fail")


@dataclass
class Predictions:
    table: pd.DataFrame  # image, <attr>_prob, <attr>_pred
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image, reason)


def find_images(spec: str) -> list[Path]:
    """A folder (its image files, recursively), a glob pattern, or one file; sorted by path."""
    path = Path(spec)
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        found = [path]
    else:
        found = [Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file()]
    if not found:
        raise UserError(f"no images found for --images '{spec}'; pass a folder of images "
                        f"({', '.join(IMAGE_SUFFIXES)}) or a quoted glob such as 'photos/*.jpg'")
    return sorted(found)


def decode_all(paths: Sequence[Path], image_size: Sequence[int], on_error: str = "skip",
               ) -> tuple[list[Path], list[torch.Tensor], list[tuple[str, str]]]:
    """Decode every image; an unreadable or too large one (:mod:`l2l.data.images`: the training
    loader's own pixel limit, checked before decoding) is skipped with its reason or, with ``fail``, stops."""
    if on_error not in ON_ERROR:
        raise UserError(f"--on-error must be one of {', '.join(ON_ERROR)}, got '{on_error}'")
    kept, tensors, skipped = [], [], []
    for p in paths:
        try:
            tensors.append(decode_image(p, image_size))
            kept.append(p)
        except BadImage as e:  # the remedy of a prediction, not of a dataset being prepared
            remedy = "replace or remove it" if e.kind == "undecodable" else e.remedy
            if on_error == "fail":
                raise UserError(f"{p}: {e.reason}; {remedy} (or pass --on-error skip to predict the other "
                                f"images)") from e
            skipped.append((str(p), f"{e.reason}; {remedy}"))  # why, and the fix
    return kept, tensors, skipped


def predict_images(run: LoadedRun, paths: Sequence[Path], on_error: str = "skip", threshold: float = 0.5,
                   device: str = "cpu") -> Predictions:
    """Probabilities and decisions of ``run`` for ``paths`` (same preprocessing as its test split)."""
    size = run.cfg.data.image_size
    kept, tensors, skipped = decode_all(paths, size, on_error)
    columns = ["image"] + [f"{a}_{kind}" for a in run.attributes for kind in ("prob", "pred")]
    if not kept:
        return Predictions(pd.DataFrame(columns=columns), skipped)
    transform = build_transform(size, (), train=False)
    images = torch.stack([transform(t) for t in tensors])
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images), len(run.attributes))),
                        batch_size=run.cfg.train.eval_batch_size, shuffle=False)
    probs = predict(run.model, loader, torch.device(device))[0][run.prediction_key]
    table = pd.DataFrame({"image": [str(p) for p in kept]})
    for j, a in enumerate(run.attributes):
        table[f"{a}_prob"] = probs[:, j]
        table[f"{a}_pred"] = (probs[:, j] > threshold).astype(np.int8)
    return Predictions(table[columns], skipped)


def write_predictions(preds: Predictions, out: str | Path) -> Path | None:
    """Write the CSV atomically; skipped images go to ``<out>.skipped.csv`` (removed when none)."""
    out = Path(out)
    atomic_write(out, lambda p: preds.table.to_csv(p, index=False))  # float32 reprs: exact round trip
    sidecar = out.with_name(out.name + ".skipped.csv")
    if not preds.skipped:
        sidecar.unlink(missing_ok=True)
        return None
    df = pd.DataFrame(preds.skipped, columns=["image", "error"])
    return atomic_write(sidecar, lambda p: df.to_csv(p, index=False))


def check_device(name: str) -> torch.device:
    """``--device`` as a torch device this machine has, or one UserError saying what to pass instead."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise UserError(f"--device '{name}' is not a torch device ({e}); pass cpu, cuda or cuda:<index>") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: torch sees no CUDA GPU here (CUDA_VISIBLE_DEVICES="
                        f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); pass --device cpu or run where a GPU is")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                        f"pass cuda:0 .. cuda:{torch.cuda.device_count() - 1} or cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: only cpu and cuda[:<index>] are supported; pass one of those")
    return device


def run_predict(run_dir: str | Path, images: str, out: str | Path, on_error: str = "skip",
                threshold: float = 0.5, device: str = "cpu",
                warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> Predictions:
    """The ``l2l predict`` command: load, predict, write; list skipped images through ``warn``."""
    check_device(device)
    run = load_run(run_dir, device)
    preds = predict_images(run, find_images(images), on_error, threshold, device)
    sidecar = write_predictions(preds, out)
    if preds.skipped:
        warn(f"skipped {len(preds.skipped)} unreadable image(s) (listed in {sidecar}):")
        for image, reason in preds.skipped:
            warn(f"  {image}: {reason}")
    return preds
