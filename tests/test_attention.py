"""`l2l attention` on a tiny trained Label2Label run: one labelled heatmap per sample, logged to MLflow."""

import pytest

from l2l.attention import attention_maps
from l2l.cli import main
from l2l.config import resolve
from l2l.engine import train
from helpers import list_runs


@pytest.fixture(scope="module")
def l2l_run(tiny_dataset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("l2l")
    cfg = resolve({"method": "label2label", "model": {"ffn_dim": 32, "mlm_layers": 2},
                   "train": {"epochs": 1, "batch_size": 32}, "data": {"path": str(tiny_dataset)},
                   "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "experiment": "att"}})
    train(cfg, tmp / "run", log=lambda m: None)
    return tmp


def test_maps_are_row_stochastic_per_head_and_layer(l2l_run):
    items = attention_maps(l2l_run / "run", [0, 3], layer=2, head=2)
    assert [i["sample"] for i in items] == [0, 3]
    for item in items:
        a = item["attention"]
        m = len(item["attributes"])
        assert a.shape == (m, m)
        assert abs(a.sum(1) - 1).max() < 1e-5  # softmax rows
        assert set(item["positive"]) <= set(item["attributes"])
    first = attention_maps(l2l_run / "run", [0], layer=1, head=1)[0]["attention"]
    assert not (first == items[0]["attention"]).all()


def test_cli_writes_pngs_and_logs_them(l2l_run, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["attention", "--run", str(l2l_run / "run"), "--samples", "1", "2", "--out-dir", str(tmp_path),
                 "--log-mlflow"]) == 0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["attention_test1_layer1_head1.png", "attention_test2_layer1_head1.png"]
    assert all((tmp_path / p).stat().st_size > 5000 for p in pngs)
    run = list_runs(f"sqlite:///{l2l_run}/mlflow.db", "att")[0]
    from mlflow.tracking import MlflowClient

    arts = MlflowClient(f"sqlite:///{l2l_run}/mlflow.db").list_artifacts(run.info.run_id, "attention")
    assert sorted(a.path for a in arts) == [f"attention/{p}" for p in pngs]
    assert main(["attention", "--run", str(l2l_run / "run"), "--layer", "5", "--out-dir", str(tmp_path)]) == 2
    assert "layers 1..2" in capsys.readouterr().err
