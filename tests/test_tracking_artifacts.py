"""Issue 14: what an MLflow user expects of a run (standard source tags, versions, dataset input, weights)."""

from pathlib import Path

import pytest

from l2l.errors import UserError
from l2l.tracking import Tracker, fetch_run, is_run_ref, source_tags
from l2l.versions import version_tags


def test_source_tags_split_dirty_suffix():
    tags = source_tags("a" * 40 + "-dirty")
    assert tags["mlflow.source.git.commit"] == "a" * 40
    assert tags["git_dirty"] == "true"
    assert "mlflow.source.git.commit" not in source_tags("unknown")


def test_version_tags_name_the_packages_that_change_numbers():
    tags = version_tags()
    for key in ("version.python", "version.torch", "version.mlflow", "hardware.cpu_count"):
        assert tags[key]


def test_dataset_input_weights_and_fetch_by_run_ref(tmp_path: Path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker.start(uri, "exp", "run", {}, {"a": "1"})
    tracker.log_dataset_input("embedded", "abc123", str(tmp_path / "data"), {"images": 10})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("method: aqn\n")
    (run_dir / "model.pt").write_bytes(b"weights")
    tracker.log_artifact(run_dir / "config.yaml")
    tracker.log_weights(run_dir / "model.pt")
    tracker.finish()

    run = tracker.client.get_run(tracker.run_id)
    [inp] = run.inputs.dataset_inputs
    assert (inp.dataset.name, inp.dataset.digest) == ("embedded", "abc123")
    assert is_run_ref(f"runs:/{tracker.run_id}") and is_run_ref(tracker.run_id)
    got = fetch_run(uri, f"runs:/{tracker.run_id}", tmp_path / "fetched")
    assert (got / "model.pt").read_bytes() == b"weights"
    assert (got / "config.yaml").read_text() == "method: aqn\n"


def test_fetch_run_unknown_id_is_one_clear_error(tmp_path: Path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    Tracker.start(uri, "exp", "run", {}, {}).finish()
    with pytest.raises(UserError, match="MLflow run 0{32}"):
        fetch_run(uri, "runs:/" + "0" * 32, tmp_path / "x")
    assert not is_run_ref("results/run")


def test_a_trained_run_is_complete_in_mlflow_and_predicts_by_run_id(tiny_dataset, tmp_path, monkeypatch):
    """Issue 14: weights artifact, standard source tag, versions, dataset input; `l2l predict --run runs:/<id>`."""
    import subprocess
    import sys

    import pandas as pd

    from l2l.config import resolve
    from l2l.engine import train

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = resolve({"method": "aqn", "model": {"ffn_dim": 32}, "train": {"epochs": 1, "batch_size": 32},
                   "data": {"path": str(tiny_dataset)}, "tracking": {"uri": uri, "experiment": "complete"}})
    result = train(cfg, tmp_path / "run", log=lambda m: None)
    run = Tracker(uri, result["mlflow_run_id"], "").client.get_run(result["mlflow_run_id"])
    tags = run.data.tags
    assert len(tags["mlflow.source.git.commit"]) == 40
    assert tags["version.torch"] and tags["hardware.cpu_count"] and tags["device_used"] == "cpu"
    assert tags["protocol"] == "clean"
    [inp] = run.inputs.dataset_inputs
    assert inp.dataset.digest == result["dataset_sha256"][:36]
    artifacts = {a.path for a in Tracker(uri, run.info.run_id, "").client.list_artifacts(run.info.run_id, "model")}
    assert artifacts == {"model/model.pt"}

    env = {**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    images = sorted((tiny_dataset / "images").rglob("*.png"))[:3]
    out = tmp_path / "preds.csv"
    res = subprocess.run([sys.executable, "-m", "l2l", "predict", "--run", f"runs:/{run.info.run_id}", "--uri", uri,
                          "--images", str(images[0]), "--out", str(out)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    by_folder = tmp_path / "preds_folder.csv"
    from inprocess import l2l

    assert l2l("predict", "--run", str(tmp_path / "run"), "--images", str(images[0]), "--out", str(by_folder)).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(by_folder))
