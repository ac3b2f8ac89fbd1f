"""kill -9 of a whole `snakemake` run (an OOM kill, a closed session, a crashed login node): the README's
recovery, `snakemake --unlock` with the same options and then the same command, finishes the run
(issue 13 item 10; before, "run the same command again" failed with a LockException)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sigkilled_snakemake_recovers_with_unlock_then_the_same_command(tmp_path):
    cfg = {
        "experiment": "kill9", "results_dir": str(tmp_path / "results"),
        "tracking_uri": f"sqlite:///{tmp_path}/results/mlflow.db",
        "datasets": {"tiny": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 16, "n_test": 16}}},
        "dataset": "tiny",
        "methods": ["fc_head"], "seeds": [0], "model": {"ffn_dim": 16}, "train": {"epochs": 2, "batch_size": 16},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(config), "--cores", "1", "all"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    run_dir = tmp_path / "results" / "kill9" / "runs" / "tiny" / "small_cnn" / "fc_head" / "base" / "clean" / "seed0"
    log = tmp_path / "results" / "kill9" / "logs" / "train" / "tiny" / "small_cnn" / "fc_head" / "base" / "clean" / "seed0.log"

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    t0 = time.time()
    while not log.exists():  # the train job has started: Snakemake holds its locks
        assert proc.poll() is None and time.time() - t0 < 300, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its job, with no chance to clean up
    proc.communicate(timeout=60)
    assert list((tmp_path / ".snakemake" / "locks").iterdir()), "the kill left no lock: nothing reproduced"

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode != 0 and "LockException" in again.stdout + again.stderr  # the fault, as reported

    unlock = subprocess.run([*cmd, "--unlock"], capture_output=True, text=True, env=env, timeout=300)
    assert unlock.returncode == 0, unlock.stdout[-3000:] + unlock.stderr[-3000:]
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert (run_dir / "metrics.json").is_file() and (tmp_path / "results" / "kill9" / "table.csv").is_file()
