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


def list_runs(uri: str, experiment: str, parents: bool = False) -> list[Any]:
    """Every run of an MLflow experiment (all pages); the cells' parent runs only with ``parents`` (they hold
    aggregates, not a training). Reads a finished store: no lock, no retry."""
    from mlflow.tracking import MlflowClient

    from l2l.tracking import ROLE_TAG

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs, token = [], None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
        runs.extend(r for r in page if parents or r.data.tags.get(ROLE_TAG) != "parent")
        token = page.token
        if not token:
            return runs
