"""Kill a real `l2l train` process, rerun it, and get exactly the uninterrupted run's numbers in one MLflow run.

Also: same seed in two processes gives identical metrics, another seed differs (CPU determinism end to end).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from l2l.config import resolve
from l2l.data.embedded import generate
from l2l.engine import train
from l2l.tracking import Tracker
from helpers import list_runs

EPOCHS = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Big enough that one epoch takes about a second, so a kill can land mid-run."""
    return generate(tmp_path_factory.mktemp("resume") / "ds", n_train=400, n_val=48, n_test=48, seed=0)


def _args(dataset, run, db, seed=0):
    return [sys.executable, "-m", "l2l", "train", "--out", str(run),
            "--set", f"data.path={dataset}", "--set", f"train.epochs={EPOCHS}", "--set", "train.batch_size=16",
            "--set", "model.ffn_dim=32", "--set", f"seed={seed}",
            "--set", f"tracking.uri=sqlite:///{db}", "--set", "tracking.experiment=resume"]


def _env():
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(args):
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())


def _run(args):
    return subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=600)


def _wait_for_line(proc, needle, timeout=300):
    """Read the job's output until ``needle`` appears (the engine prints it after the epoch's checkpoint)."""
    seen, t0 = [], time.time()
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return "".join(seen)
        assert time.time() - t0 < timeout, "".join(seen)
    raise AssertionError(f"process ended before {needle!r}:\n{''.join(seen)}")


def _numbers(run):
    metrics = json.loads((run / "metrics.json").read_text())
    history = pd.read_csv(run / "history.csv").drop(columns="train_images_per_s")
    return metrics["test"], metrics["selected_epoch"], history


def _assert_one_complete_mlflow_run(db):
    uri = f"sqlite:///{db}"
    runs = list_runs(uri, "resume")
    assert len(runs) == 1, [r.info.status for r in runs]
    run = runs[0]
    assert run.info.status == "FINISHED"
    client = MlflowClient(uri)
    for key in ("train_loss", "val_error", "lr"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert sorted(steps) == list(range(1, EPOCHS + 1)), (key, steps)  # no gap, no duplicated step
    assert len(client.get_metric_history(run.info.run_id, "test_error")) == 1
    return run


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory):
    """Uninterrupted runs with seed 0 and seed 1, started together (two processes)."""
    root = tmp_path_factory.mktemp("reference")
    procs = {seed: _start(_args(dataset, root / f"seed{seed}", root / f"m{seed}.db", seed)) for seed in (0, 1)}
    for seed, proc in procs.items():
        out = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, out
    return root


@pytest.mark.slow
@pytest.mark.long
def test_same_seed_same_numbers_other_seed_differs_via_cli(reference, dataset, tmp_path):
    again = _run(_args(dataset, tmp_path / "again", tmp_path / "m.db", seed=0))
    assert again.returncode == 0, again.stderr
    test0, epoch0, hist0 = _numbers(reference / "seed0")
    test_again, epoch_again, hist_again = _numbers(tmp_path / "again")
    assert test_again == test0 and epoch_again == epoch0
    pd.testing.assert_frame_equal(hist_again, hist0, check_exact=True)
    test1, _, hist1 = _numbers(reference / "seed1")
    assert test1["error"] != test0["error"]
    assert not hist1["train_loss"].equals(hist0["train_loss"])


def _assert_matches_the_uninterrupted_run(run, db, reference):
    assert not (run / "resume.ckpt").exists()
    assert not list(run.glob(".*.tmp"))
    test, epoch, history = _numbers(run)
    test_ref, epoch_ref, history_ref = _numbers(reference / "seed0")
    assert test == test_ref and epoch == epoch_ref
    pd.testing.assert_frame_equal(history, history_ref, check_exact=True)
    mlflow_run = _assert_one_complete_mlflow_run(db)
    assert json.loads((run / "metrics.json").read_text())["mlflow_run_id"] == mlflow_run.info.run_id


def _stop_after_epoch(args, epoch: int, sig: signal.Signals) -> tuple[subprocess.Popen, str, float]:
    """Start the job, send ``sig`` once it has logged ``epoch``; (process, the rest of its output, seconds
    it took to stop)."""
    proc = _start(args)
    _wait_for_line(proc, f"epoch {epoch}/{EPOCHS} loss")  # the epoch's line, not "resuming ... at epoch"
    proc.send_signal(sig)
    t_signal = time.time()
    rest = proc.communicate(timeout=120)[0]
    return proc, rest, time.time() - t_signal


@pytest.mark.slow
@pytest.mark.long
def test_preempted_twice_resumes_twice_to_the_uninterrupted_result(reference, dataset, tmp_path):
    """SIGUSR1 after epoch 1 (SLURM's --signal warning), then SIGTERM to the resumed job after epoch 2
    (preemption, or the time limit): each stops within a batch or two with exit 128+signal and a KILLED
    MLflow run, and each rerun goes on from the last finished epoch, in the same MLflow run."""
    run, db = tmp_path / "run", tmp_path / "m.db"
    args = _args(dataset, run, db)
    for epoch, sig in ((1, signal.SIGUSR1), (2, signal.SIGTERM)):
        proc, rest, stopped_in = _stop_after_epoch(args, epoch, sig)
        assert proc.returncode == 128 + sig, rest
        assert not (run / "metrics.json").exists()
        ckpt = torch.load(run / "resume.ckpt", weights_only=True)
        assert ckpt["epoch"] in (epoch - 1, epoch)  # epoch done (0-based); the next one if the signal hit its end
        assert ckpt["epoch"] < EPOCHS - 1
        lines = [ln for ln in rest.splitlines() if "preempted" in ln]
        assert len(lines) == 1 and "re-run the same command to resume" in lines[0], rest
        assert f"epoch {EPOCHS}/{EPOCHS} loss" not in rest  # the last epoch never finished
        assert stopped_in < 30  # within a batch or two, not the rest of the run
        assert list_runs(f"sqlite:///{db}", "resume")[0].info.status == "KILLED"
        if ckpt["epoch"] == EPOCHS - 2:
            break  # the first stop landed after epoch 2: no epoch left to stop the resumed job in
    resumed = _run(args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {run / 'resume.ckpt'} at epoch {ckpt['epoch'] + 2}/{EPOCHS}" in resumed.stdout
    _assert_matches_the_uninterrupted_run(run, db, reference)


@pytest.mark.slow
@pytest.mark.long
def test_killed_training_resumes_to_the_uninterrupted_result(reference, dataset, tmp_path):
    """SIGKILL (an OOM kill, a node failure): nobody can mark the MLflow run; the rerun still finishes it."""
    run, db = tmp_path / "run", tmp_path / "m.db"
    proc, rest, _ = _stop_after_epoch(_args(dataset, run, db), 1, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    ckpt = torch.load(run / "resume.ckpt", weights_only=True)
    assert ckpt["epoch"] in (0, 1) and ckpt["epoch"] < EPOCHS - 1
    assert list_runs(f"sqlite:///{db}", "resume")[0].info.status == "RUNNING"  # nobody could mark it

    resumed = _run(_args(dataset, run, db))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {run / 'resume.ckpt'} at epoch {ckpt['epoch'] + 2}/{EPOCHS}" in resumed.stdout
    _assert_matches_the_uninterrupted_run(run, db, reference)


def test_epoch_lost_between_checkpoint_and_mlflow_is_logged_once_on_resume(tiny_dataset, tmp_path, monkeypatch):
    """The kill window between the checkpoint and the MLflow write: the rerun fills the gap, no duplicate."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = resolve({"model": {"ffn_dim": 32}, "train": {"epochs": 3, "batch_size": 32},
                   "data": {"path": str(tiny_dataset)},
                   "tracking": {"uri": f"sqlite:///{tmp_path}/m.db", "experiment": "gap"}})
    real = Tracker.log_metrics

    def dies_at_step_2(self, metrics, step=None):
        if step == 2:
            raise KeyboardInterrupt  # stands for a SIGKILL right after epoch 2's checkpoint
        return real(self, metrics, step)

    monkeypatch.setattr(Tracker, "log_metrics", dies_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", log=lambda m: None)
    assert torch.load(tmp_path / "run" / "resume.ckpt", weights_only=True)["epoch"] == 1  # epoch 2 is saved
    monkeypatch.setattr(Tracker, "log_metrics", real)
    result = train(cfg, tmp_path / "run", log=lambda m: None)
    client = MlflowClient(f"sqlite:///{tmp_path}/m.db")
    assert len(list_runs(f"sqlite:///{tmp_path}/m.db", "gap")) == 1
    for key in ("train_loss", "val_error"):
        assert sorted(m.step for m in client.get_metric_history(result["mlflow_run_id"], key)) == [1, 2, 3]


def test_checkpoint_of_another_config_is_moved_aside(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    base = {"model": {"ffn_dim": 32}, "train": {"epochs": 1, "batch_size": 32}, "data": {"path": str(tiny_dataset)},
            "tracking": {"uri": f"sqlite:///{tmp_path}/m.db", "experiment": "stale"}}
    run = tmp_path / "run"
    run.mkdir()
    old = resolve({**base, "train": {"epochs": 1, "batch_size": 32, "lr": 0.5}})
    torch.save({"fingerprint": old.fingerprint(), "epoch": 0}, run / "resume.ckpt")
    logs = []
    train(resolve(base), run, log=logs.append)
    assert (run / f"resume.ckpt.{old.fingerprint()}.stale").is_file()
    assert any("belongs to another config" in m and "starting over" in m for m in logs)
    assert not any(m.startswith("resuming") for m in logs)


def test_resume_when_the_mlflow_run_is_gone_logs_a_complete_new_run(tiny_dataset, tmp_path, monkeypatch):
    """The checkpoint's run was deleted (or the job now logs elsewhere): a new run gets the whole history."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path}/m.db"
    cfg = resolve({"model": {"ffn_dim": 32}, "train": {"epochs": 2, "batch_size": 32},
                   "data": {"path": str(tiny_dataset)}, "tracking": {"uri": uri, "experiment": "gone"}})
    real = Tracker.log_metrics

    def dies_after_epoch_1(self, metrics, step=None):
        real(self, metrics, step)
        if step == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Tracker, "log_metrics", dies_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", log=lambda m: None)
    monkeypatch.setattr(Tracker, "log_metrics", real)
    old = torch.load(tmp_path / "run" / "resume.ckpt", weights_only=True)["run_id"]
    MlflowClient(uri).delete_run(old)
    result = train(cfg, tmp_path / "run", log=lambda m: None)
    assert result["mlflow_run_id"] != old
    assert [r.info.run_id for r in list_runs(uri, "gone")] == [result["mlflow_run_id"]]
    steps = [m.step for m in MlflowClient(uri).get_metric_history(result["mlflow_run_id"], "val_error")]
    assert sorted(steps) == [1, 2]
