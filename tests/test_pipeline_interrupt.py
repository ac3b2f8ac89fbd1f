"""A local `snakemake` run interrupted twice, as people interrupt them, and finished by the README's recovery.

1. kill -9 of the whole run (an OOM kill, a closed session, a crashed login node) leaves Snakemake's locks:
   the same command then fails with a LockException; `snakemake --unlock` with the same options, then the
   same command, goes on (issue 13 item 10).
2. Ctrl-C mid-training (SIGINT to Snakemake and its job): the train job keeps resume.ckpt, which Snakemake
   does not delete, and the same command again resumes it in the same MLflow run.
One pipeline serves both, so the train log holds three attempts, each after its own marker line.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from helpers import list_runs

from helpers import REPO

MARKER = "==== attempt started"


def _one_run_pipeline(tmp_path: Path, experiment: str):
    """(snakemake command, environment, run folder, train log) of one fc_head run, seed 0: 400 training
    images, so that an epoch takes long enough to interrupt the next one."""
    cfg = {
        "experiment": experiment, "results_dir": str(tmp_path / "results"),
        "tracking_uri": f"sqlite:///{tmp_path}/results/mlflow.db",
        "datasets": {"tiny": {"source": "embedded", "embedded": {"n_train": 400, "n_val": 48, "n_test": 48}}},
        "dataset": "tiny", "methods": ["fc_head"], "seeds": [0], "model": {"ffn_dim": 32},
        "train": {"epochs": 3, "batch_size": 16},
        "data": {"cache": False},  # the train job is what gets interrupted; no cache jobs before it
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(config), "--cores", "1", "all"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    run = Path("tiny", "small_cnn", "fc_head", "base", "clean")
    exp = tmp_path / "results" / experiment
    return cmd, env, exp / "runs" / run / "seed0", exp / "logs" / "train" / run / "seed0.log"


def _start(cmd, env):
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def _wait(proc, ready, timeout: float = 600) -> None:
    t0 = time.time()
    while not ready():
        assert proc.poll() is None and time.time() - t0 < timeout, proc.communicate()[0][-3000:]
        time.sleep(0.05)


def _attempts(log) -> list[str]:
    """The train log's attempts: it is appended to, one marker line per attempt."""
    return log.read_text().split(MARKER)[1:] if log.exists() else []


@pytest.mark.slow
@pytest.mark.long
def test_kill_9_then_unlock_and_ctrl_c_then_rerun_finish_one_run(tmp_path):
    cmd, env, run_dir, log = _one_run_pipeline(tmp_path, "interrupt")

    # 1. kill -9 once the train job has started (Snakemake holds its locks), with no chance to clean up
    proc = _start(cmd, env)
    _wait(proc, lambda: len(_attempts(log)) == 1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert list((tmp_path / ".snakemake" / "locks").iterdir()), "the kill left no lock: nothing reproduced"
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode != 0 and "LockException" in again.stdout + again.stderr  # the fault, as reported
    unlock = subprocess.run([*cmd, "--unlock"], capture_output=True, text=True, env=env, timeout=300)
    assert unlock.returncode == 0, unlock.stdout[-3000:] + unlock.stderr[-3000:]

    # 2. the same command runs; Ctrl-C in the terminal after its first epoch
    proc = _start(cmd, env)
    _wait(proc, lambda: len(_attempts(log)) == 2 and "epoch 1/3" in _attempts(log)[1])
    os.killpg(proc.pid, signal.SIGINT)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, out[-3000:]
    assert not (run_dir / "metrics.json").exists()
    assert (run_dir / "resume.ckpt").is_file(), out[-3000:]
    assert torch.load(run_dir / "resume.ckpt", weights_only=True)["epoch"] < 2

    # 3. the same command again resumes and finishes
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    killed, interrupted, resumed = _attempts(log)
    assert "epoch 1/3" in interrupted and "resuming from" in resumed and "test error" in resumed, log.read_text()
    assert "resuming from" not in interrupted  # the kill -9 came before any checkpoint
    assert not (run_dir / "resume.ckpt").exists()
    assert (run_dir / "metrics.json").is_file() and (tmp_path / "results" / "interrupt" / "table.csv").is_file()
    uri = f"sqlite:///{tmp_path}/results/mlflow.db"
    runs = list_runs(uri, "interrupt")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = [m.step for m in MlflowClient(uri).get_metric_history(runs[0].info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3]
