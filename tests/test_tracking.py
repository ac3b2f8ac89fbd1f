import multiprocessing as mp
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from l2l.tracking import Tracker, resolve_uri

from helpers import list_runs
from inprocess import l2l
from mlflow_server import mlflow_server

N_WRITERS = 8
STEPS = 5


def _writer(uri: str, i: int) -> None:
    tracker = Tracker.start(uri, "race", f"writer-{i}", {"writer": str(i)}, {"i": str(i)})
    for step in range(STEPS):
        tracker.log_metrics({"loss": 1.0 / (step + 1), "writer": float(i)}, step=step)
    tracker.finish()


def _race(uri: str) -> None:
    """N processes create the same experiment at once and log one run each: nothing fails, lost or doubled.

    Each writer is a fresh process with its own MLflow client and database connection, as a job's is; they
    fork from one forkserver that imported this module (and so mlflow) once, instead of N interpreters
    importing it each (spawn): the same race, less CPU."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    procs = [ctx.Process(target=_writer, args=(uri, i)) for i in range(N_WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * N_WRITERS  # zero failures
    client = MlflowClient(uri)
    assert len([e for e in client.search_experiments() if e.name == "race"]) == 1
    runs = list_runs(uri, "race")
    assert len(runs) == N_WRITERS  # no duplicated run ...
    assert sorted(r.data.tags["writer"] for r in runs) == sorted(str(i) for i in range(N_WRITERS))  # ... none lost
    assert len({r.info.run_id for r in runs}) == N_WRITERS
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(r.data.metrics["loss"] == 0.2 for r in runs)
    for r in runs:  # every metric point arrived exactly once
        assert sorted(m.step for m in client.get_metric_history(r.info.run_id, "loss")) == list(range(STEPS))
        assert r.data.params == {"i": r.data.tags["writer"]}


def test_concurrent_writers_create_one_experiment_and_lose_no_run(tmp_path):
    _race(f"sqlite:///{tmp_path}/mlflow.db")


def test_env_var_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_uri("sqlite:///x.db") == "http://127.0.0.1:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_uri("sqlite:///x.db") == "sqlite:///x.db"


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (sqlite backend, proxied artifacts)."""
    root = tmp_path_factory.mktemp("server")
    with mlflow_server("server", f"sqlite:///{root}/server.db", root / "server.log",
                       "--artifacts-destination", str(root / "artifacts")) as url:
        yield url, root


@pytest.mark.slow
def test_concurrent_writers_through_a_tracking_server(tracking_server):
    _race(tracking_server[0])


@pytest.mark.slow
def test_l2l_train_logs_to_a_tracking_server_via_env_var(tracking_server, tiny_dataset, tmp_path, monkeypatch):
    url, root = tracking_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    res = l2l("train", "--out", str(tmp_path / "run"), "--set", f"data.path={tiny_dataset}",
              "--set", "train.epochs=2", "--set", "train.batch_size=32", "--set", "model.ffn_dim=32",
              "--set", f"tracking.uri=sqlite:///{tmp_path}/unused.db", "--set", "tracking.experiment=served")
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "unused.db").exists()  # the env var won over the config
    runs = list_runs(url, "served")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    assert "test_error" in run.data.metrics and run.data.params["train.epochs"] == "2"
    client = MlflowClient(url)
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_error")) == [1, 2]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"metrics.json", "history.csv", "config.yaml"}
    assert list(Path(root / "artifacts").rglob("metrics.json"))  # stored by the server, not by the client
