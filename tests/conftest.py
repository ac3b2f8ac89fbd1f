from pathlib import Path

import pytest

from helpers import REPO


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small embedded dataset, generated once per test session (torch is imported here, not at collection:
    the torch-free tests run without it, tests/test_torch_free.py)."""
    from l2l.data.embedded import generate

    return generate(tmp_path_factory.mktemp("data") / "embedded", n_train=96, n_val=32, n_test=48, seed=0)


# The longest serial chains of the suite (a module-scoped pipeline, a SLURM cluster, processes killed and
# rerun), first in the collection so that pytest-xdist (`--dist loadfile --no-loadscope-reorder`, see
# pyproject.toml) hands them out before the many short modules, instead of starting one last on a busy worker.
LONGEST_FIRST = ("test_browser.py", "test_slurm.py", "test_resume.py", "test_pipeline.py", "test_gpu_pipeline.py",
                 "test_weights.py", "test_own_data.py", "test_preflight.py", "test_pipeline_interrupt.py",
                 "test_datasets_pipeline.py", "test_tracking.py", "test_torch_free.py", "test_predict.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept otherwise
