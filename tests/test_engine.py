import json

import pandas as pd
import pytest
import torch

from l2l.engine import masked_bce, pa100k_weights, train
from helpers import list_runs

from helpers import run_config


def _cfg(dataset, tmp_path, seed=0, method="label2label", epochs=2):
    return run_config(dataset, tmp_path, "engine-test", method, model={"ffn_dim": 32},
                      train={"epochs": epochs, "batch_size": 32}, seed=seed)


def test_masked_bce_ignores_unknown_labels():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    labels = torch.tensor([[1.0, -1.0, 0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([2.0, 0.5]), torch.tensor([1.0, 0.0]))
    assert torch.allclose(masked_bce(logits, labels), expected)
    changed = labels.clone()
    assert torch.allclose(masked_bce(torch.tensor([[2.0, 50.0, 0.5]]), changed), expected)


def test_pa100k_weights():
    pos, neg = pa100k_weights([0.1, 0.5])
    assert torch.allclose(pos, torch.exp(torch.tensor([0.9, 0.5])))
    assert torch.allclose(neg, torch.exp(torch.tensor([0.1, 0.5])))


def test_run_folder_mlflow_and_determinism(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    a = train(_cfg(tiny_dataset, tmp_path), tmp_path / "a", log=lambda m: None)
    b = train(_cfg(tiny_dataset, tmp_path), tmp_path / "b", log=lambda m: None)
    c = train(_cfg(tiny_dataset, tmp_path, seed=1), tmp_path / "c", log=lambda m: None)
    assert a["test"] == b["test"]  # same seed on CPU: identical numbers
    assert a["test"] != c["test"]
    ha, hb = (pd.read_csv(tmp_path / x / "history.csv") for x in "ab")
    pd.testing.assert_frame_equal(ha.drop(columns="train_images_per_s"), hb.drop(columns="train_images_per_s"))
    for name in ("config.yaml", "history.csv", "metrics.json", "model.pt"):
        assert (tmp_path / "a" / name).is_file()
    assert not (tmp_path / "a" / "resume.ckpt").exists()
    assert len(ha) == 2 and {"train_loss", "val_error", "val_mA"} <= set(ha.columns)
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {"error", "mA", "f1", "aqn_error", "group_accuracy"} <= set(metrics["test"])

    runs = {r.info.run_id: r for r in list_runs(f"sqlite:///{tmp_path}/mlflow.db", "engine-test")}
    assert len(runs) == 3
    run = runs[a["mlflow_run_id"]]
    assert run.info.status == "FINISHED"
    assert run.data.params["model.mask_ratio"] == "0.1"
    assert run.data.tags["dataset_sha256"] == metrics["dataset_sha256"]
    assert "git_commit" in run.data.tags
    assert run.data.metrics["test_error"] == pytest.approx(metrics["test"]["error"])
    from mlflow.tracking import MlflowClient

    history = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_metric_history(run.info.run_id, "val_error")
    assert sorted(m.step for m in history) == [1, 2]
