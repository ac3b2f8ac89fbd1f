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
