import multiprocessing as mp

from l2l.tracking import Tracker, list_runs, resolve_uri

N_WRITERS = 8


def _writer(uri: str, i: int) -> None:
    tracker = Tracker.start(uri, "race", f"writer-{i}", {"writer": str(i)}, {"i": str(i)})
    for step in range(5):
        tracker.log_metrics({"loss": 1.0 / (step + 1), "writer": float(i)}, step=step)
    tracker.finish()


def test_concurrent_writers_create_one_experiment_and_lose_no_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(uri, i)) for i in range(N_WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * N_WRITERS
    runs = list_runs(uri, "race")
    assert sorted(r.data.tags["writer"] for r in runs) == sorted(str(i) for i in range(N_WRITERS))
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all(r.data.metrics["loss"] == 0.2 for r in runs)


def test_env_var_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_uri("sqlite:///x.db") == "http://127.0.0.1:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_uri("sqlite:///x.db") == "sqlite:///x.db"
