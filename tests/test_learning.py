"""Training learns (issue 11): every method, a few epochs on a small embedded set, beats the best constant
predictor (each attribute's training majority) on the test split by a margin a broken step cannot reach.

Checked by mutation: with the targets of ``masked_bce`` inverted (``target = 1 - target``) every test here
fails (the models learn the inverted labels, test error above 60 %)."""

import numpy as np
import pytest

from l2l.config import resolve
from l2l.data import load_prepared
from l2l.data.embedded import generate
from l2l.engine import train

MARGIN = 10.0  # percentage points below the constant predictor's error; learned models reach ~20-25 points
METHODS = ("fc_head", "aqn", "label2label", "mlm_mlp", "mlm_encoder", "icmlm_2stage")
_RUNS: dict = {}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = generate(tmp_path_factory.mktemp("learn") / "embedded", n_train=200, n_val=32, n_test=200,
                    image_size=16, seed=1)
    data = load_prepared(root)
    majority = (data.labels[data.indices("train")].mean(0) > 0.5).astype(np.int8)
    test = data.labels[data.indices("test")]
    return root, float(100.0 * (test != majority).mean())


def _train(method, root, tmp_path_factory):
    if method not in _RUNS:
        tmp = tmp_path_factory.mktemp(method)
        init = {"init_from": str(_train("aqn", root, tmp_path_factory) / "model.pt")} \
            if method in ("mlm_mlp", "mlm_encoder", "icmlm_2stage") else {}
        cfg = resolve({"method": method, "model": {"ffn_dim": 64, **init},
                       "data": {"path": str(root), "image_size": [16, 16]},
                       "train": {"epochs": 6, "batch_size": 32, "lr": 3e-3, "selection": "last"},
                       "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "experiment": "learning"}})
        train(cfg, tmp / "run", log=lambda m: None)
        _RUNS[method] = tmp / "run"
    return _RUNS[method]


@pytest.mark.parametrize("method", METHODS)
def test_method_beats_the_best_constant_predictor(method, small_set, tmp_path_factory, monkeypatch):
    import json

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, constant_error = small_set
    assert 25.0 < constant_error < 45.0  # the bar itself: imbalanced attributes, far from 0 and 50
    run = _train(method, root, tmp_path_factory)
    error = json.loads((run / "metrics.json").read_text())["test"]["error"]
    assert error < constant_error - MARGIN, f"{method}: test error {error:.2f} vs constant {constant_error:.2f}"
