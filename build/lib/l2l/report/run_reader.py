"""One finished run folder as one flat row: identity (from config.yaml) and scalar test metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from l2l.errors import UserError
from l2l.io import read_yaml


_RERUN = "delete the run's metrics.json and re-run it (snakemake reruns it), or restore the file"


def _read_metrics(path: Path) -> dict[str, Any]:
    """metrics.json as written by ``l2l train``, or one UserError naming it (truncated, empty, edited)."""
    try:
        result = json.loads(path.read_text())
    except (ValueError, OSError) as e:  # JSONDecodeError, UnicodeDecodeError, unreadable
        raise UserError(f"{path}: not a valid metrics file ({type(e).__name__}: {e}); {_RERUN}") from e
    test = result.get("test") if isinstance(result, dict) else None
    error = test.get("error") if isinstance(test, dict) else None
    if not isinstance(error, (int, float)) or isinstance(error, bool):
        raise UserError(f"{path}: has no numeric test error (key test.error); {_RERUN}")
    per_metric = result.get("test_per_metric")
    if per_metric is not None and not isinstance(per_metric, dict):
        raise UserError(f"{path}: test_per_metric is not a mapping; {_RERUN}")
    return result


def _identity(cfg_path: Path) -> dict[str, Any]:
    """dataset / method / backbone / seed of a run from its config.yaml, or one UserError naming it."""
    try:
        cfg = read_yaml(cfg_path)
        return {"dataset": Path(cfg["data"]["path"]).name, "method": str(cfg["method"]),
                "backbone": str(cfg["backbone"]), "seed": int(cfg["seed"])}
    except Exception as e:  # YAMLError, a non-mapping, a missing key, a seed that is no number
        reason = " ".join(str(e).split())[:200]
        raise UserError(f"{cfg_path}: not a run config with data.path, method, backbone and seed ({type(e).__name__}: "
                        f"{reason}); restore the run's config.yaml or re-run the run") from e


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Scalar test metrics (``group.<g>`` for group accuracies, ``label_accuracy`` = 100 − error),
    selection info, and, when config.yaml is there, dataset / method / backbone / seed.

    A run trained with ``train.selection_per_metric`` reports each metric at its own selected epoch
    (``test_per_metric``, the official PA-100K protocol); its row uses those values."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise UserError(f"{path}: missing; train the run first (snakemake does)")
    result = _read_metrics(path)
    test = dict(result["test"])
    test.update(result.get("test_per_metric") or {})
    row: dict[str, Any] = {"run": str(run_dir)}
    cfg_path = run_dir / "config.yaml"
    if cfg_path.is_file():
        row.update(_identity(cfg_path))
    else:
        found = re.search(r"seed(\d+)$", str(run_dir))
        if not found:
            raise UserError(f"{run_dir}: no config.yaml and no seed<N> folder name; restore the run's config.yaml")
        row["seed"] = int(found.group(1))
    row.update({k: result[k] for k in ("selected_epoch", "train_seconds") if k in result})
    row.update({k: v for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    row.update({f"group.{g}": v for g, v in test.get("group_accuracy", {}).items()})
    row["label_accuracy"] = 100.0 - test["error"]
    return row
