"""The files ``l2l train`` writes in its ``--out`` folder, and the rule that it touches no others.

``--out`` may name a folder that holds other things (``--out .`` in a project folder). The run then
replaces only its own files and removes only its own temporaries:

* the temporaries of a killed atomic write are ``.<name>.<random>.tmp`` (:func:`l2l.io.atomic_write`)
  for the run files ``<name>`` below; only those are removed, never another program's ``.*.tmp``;
* a ``config.yaml`` that ``l2l train`` did not write (not a complete resolved run config, in a folder
  without the run's other files) is refused with one line instead of being overwritten.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from l2l.config import resolve
from l2l.errors import UserError
from l2l.io import read_yaml

IMAGE_ERRORS = "test_image_errors.npy"  # per test image: % of its known labels wrong (the zoo's paired bootstrap)
RUN_FILES = ("config.yaml", "history.csv", "metrics.json", "model.pt", "resume.ckpt", IMAGE_ERRORS)
_WRITTEN_LATER = ("history.csv", "metrics.json", "model.pt", "resume.ckpt", IMAGE_ERRORS)


def remove_own_temporaries(out_dir: Path) -> None:
    """Delete the temp files a killed atomic write of a run file left behind (and nothing else)."""
    for name in RUN_FILES:
        for tmp in out_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _written_by_train(path: Path) -> bool:
    """True when ``path`` is a resolved run config (what ``l2l train`` writes), whatever its values."""
    try:
        data = read_yaml(path)
        return isinstance(data, dict) and resolve(data).to_dict() == data
    except (UserError, yaml.YAMLError, OSError, TypeError, ValueError):
        return False


def claim_run_dir(out_dir: Path) -> None:
    """Create ``out_dir``, refusing a folder whose ``config.yaml`` ``l2l train`` would overwrite but did not write."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = out_dir / "config.yaml"
    if not cfg.exists() or any((out_dir / n).exists() for n in _WRITTEN_LATER) or _written_by_train(cfg):
        return
    raise UserError(f"{cfg}: exists and was not written by l2l train (the run would overwrite it); pass --out a "
                    f"new or run folder (e.g. --out runs/my-run), or move that file away")
