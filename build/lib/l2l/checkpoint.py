"""Checkpoint files (model.pt, resume.ckpt): written atomically, read without running code.

Every checkpoint is read with ``torch.load(..., weights_only=True)``: the unpickler then accepts
only tensors and plain containers (dict, list, tuple, str, int, float, bool, None), so a crafted
``model.pt`` / ``resume.ckpt`` / ``model.init_from`` file (run folders are shared between people)
cannot run code; it is refused with a one-line error naming the file. Our writers store only
such values (:func:`plain` converts numpy scalars and arrays in the bookkeeping parts).

A checkpoint holding a NaN or inf (one NaN in a BatchNorm ``running_var`` is enough) would predict NaN
probabilities, which threshold to all-0 labels with exit 0; it is refused at load, naming the tensor.
Training never writes one: a non-finite loss stops the run before its epoch is checkpointed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2l.errors import UserError
from l2l.io import atomic_write


def plain(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays turned into Python numbers/lists (tensors kept as they are)."""
    if type(obj) is dict:
        return {k: plain(v) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def save_checkpoint(path: str | Path, obj: Any) -> None:
    """Atomic torch.save, serialised in memory first: on a full disk torch's own writer raises an opaque
    RuntimeError ("unexpected pos ..."), while a plain write raises OSError(ENOSPC), which names the file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(buffer.getbuffer()))


def load_checkpoint(path: str | Path, fix: str) -> dict[str, Any]:
    """The dict stored in ``path``, loaded with weights_only=True; any failure is one UserError line
    naming the file and ``fix`` (a file that needs code to unpickle is refused, never executed)."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError (refused object), truncated file, not a torch file ...
        reason = " ".join(str(e).split())
        if "weights_only" in reason.lower() or "unsupported global" in reason.lower():
            reason = "it contains objects other than tensors and plain containers, refused as unsafe to load"
        raise UserError(f"{path}: checkpoint cannot be loaded ({reason[:300]}); {fix}") from e
    if not isinstance(ckpt, dict):
        raise UserError(f"{path}: checkpoint holds a {type(ckpt).__name__}, not a dict; {fix}")
    bad = first_non_finite(ckpt)
    if bad is not None:
        raise UserError(f"{path}: checkpoint holds NaN or inf values (in {bad}), refused; {fix}")
    return ckpt


def first_non_finite(obj: Any, where: str = "") -> str | None:
    """The key path of the first floating tensor holding a NaN or inf in ``obj``, else None."""
    if isinstance(obj, torch.Tensor):
        return where or "<tensor>" if obj.is_floating_point() and not bool(torch.isfinite(obj).all()) else None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        bad = first_non_finite(value, f"{where}.{key}" if where else str(key))
        if bad is not None:
            return bad
    return None


def load_state_into(target: Any, state: Any, path: str | Path, fix: str) -> None:
    """``target.load_state_dict(state)``; a state of another shape (a model with another attribute count,
    another head) is one UserError naming the file and ``fix`` instead of torch's size-mismatch traceback."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        reason = " ".join(str(e).split())
        raise UserError(f"{path}: does not fit this run's {type(target).__name__} ({reason[:200]}); {fix}") from e
