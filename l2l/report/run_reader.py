"""One finished run folder as one flat row: identity (from config.yaml) and scalar test metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from l2l.errors import UserError
from l2l.io import read_yaml


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Scalar test metrics (``group.<g>`` for group accuracies, ``label_accuracy`` = 100 − error),
    selection info, and, when config.yaml is there, dataset / method / backbone / seed.

    A run trained with ``train.selection_per_metric`` reports each metric at its own selected epoch
    (``test_per_metric``, the official PA-100K protocol); its row uses those values."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise UserError(f"{path}: missing; train the run first (snakemake does)")
    result = json.loads(path.read_text())
    test = dict(result["test"])
    test.update(result.get("test_per_metric") or {})
    row: dict[str, Any] = {"run": str(run_dir)}
    cfg_path = run_dir / "config.yaml"
    if cfg_path.is_file():
        cfg = read_yaml(cfg_path)
        row.update({"dataset": Path(cfg["data"]["path"]).name, "method": cfg["method"], "backbone": cfg["backbone"],
                    "seed": int(cfg["seed"])})
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
