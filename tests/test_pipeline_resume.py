"""Ctrl-C on a local `snakemake` run mid-training, then the same command again: the train job resumes
from resume.ckpt (which Snakemake did not delete) in the same MLflow run."""

import os
import signal
import subprocess
import time

import pytest
import torch
from mlflow.tracking import MlflowClient

from l2l.tracking import list_runs

from pipelines import one_run_pipeline


@pytest.mark.slow
def test_interrupted_snakemake_run_resumes_on_rerun(tmp_path):
    cmd, env, run_dir, log = one_run_pipeline(tmp_path, "ctrlc", n_train=400, epochs=3, ffn_dim=32)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    t0 = time.time()
    while "epoch 1/3" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.time() - t0 < 600, proc.communicate()[0][-3000:]
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal: Snakemake and its job get SIGINT
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, out[-3000:]
    assert not (run_dir / "metrics.json").exists()
    assert (run_dir / "resume.ckpt").is_file(), out[-3000:]
    assert torch.load(run_dir / "resume.ckpt", weights_only=True)["epoch"] < 2

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    text = log.read_text()
    assert "resuming from" in text and "test error" in text, text
    killed, resumed = text.split("==== attempt started")[1:]  # the log is appended to, one marker per attempt
    assert "epoch 1/3" in killed and "resuming from" in resumed, text
    assert not (run_dir / "resume.ckpt").exists()
    runs = list_runs(f"sqlite:///{tmp_path}/results/mlflow.db", "ctrlc")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = [m.step for m in MlflowClient(f"sqlite:///{tmp_path}/results/mlflow.db")
             .get_metric_history(runs[0].info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3]
