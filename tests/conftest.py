from pathlib import Path

import pytest

from l2l.data.embedded import generate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small embedded dataset, generated once per test session."""
    return generate(tmp_path_factory.mktemp("data") / "embedded", n_train=96, n_val=32, n_test=48, seed=0)
