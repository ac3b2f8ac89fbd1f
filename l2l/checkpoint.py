"""Checkpoint files (model.pt, resume.ckpt): written atomically, read without running code.

Every checkpoint is read with ``torch.load(..., weights_only=True)``: the unpickler then accepts
only tensors and plain containers (dict, list, tuple, str, int, float, bool, None), so a crafted
``model.pt`` / ``resume.ckpt`` / ``model.init_from`` file (run folders are shared between people)
cannot run code; it is refused with a one-line error naming the file. Our writers store only
such values (:func:`plain` converts numpy scalars and arrays in the bookkeeping parts).
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
    return ckpt
