"""Builders shared by the test files (torch-free: conftest.py and the torch-free tests import this)."""

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run_config(dataset: Path | str, tmp_path: Path, experiment: str, method: str = "label2label",
               model: dict[str, Any] | None = None, train: dict[str, Any] | None = None,
               data: dict[str, Any] | None = None, tracking_switches: bool = False, **top: Any):
    """A resolved RunConfig training on ``dataset``, tracked in ``tmp_path/mlflow.db`` under ``experiment``.

    System metrics and the logged model are off unless ``tracking_switches``: they cost every training test
    a monitor thread and a model validation (tests/test_tracking_cells.py turns them on)."""
    from l2l.config import resolve

    switches = {} if tracking_switches else {"system_metrics": False, "log_model": False}
    return resolve({"method": method, **top, "model": model or {}, "train": train or {},
                    "data": {"path": str(dataset), **(data or {})},
                    "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": experiment, **switches}})


def leftovers(parent: Path) -> list[str]:
    """What a failed preparer left in ``parent`` (its staging ``.out*`` folders or ``out``): must be nothing."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".out") or p.name == "out")
