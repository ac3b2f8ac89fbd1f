"""The real Snakemake pipeline on a simulated 2-GPU server (L2L_FAKE_GPUS=2, a testing hook): with
`--cores 2 --resources gpu=2` train jobs run two at a time, and two jobs that run at once never hold the
same device. The jobs lease real lock files and then train on the CPU (fake mode), recording the lease."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
import yaml

from helpers import list_runs

from helpers import REPO


@pytest.mark.slow
@pytest.mark.long
def test_concurrent_train_jobs_lease_different_devices(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = {"experiment": "gpus", "results_dir": str(tmp_path / "results"),
           "tracking_uri": f"sqlite:///{tmp_path}/results/mlflow.db",
           "datasets": {"tiny": {"source": "embedded", "embedded": {"n_train": 128, "n_val": 32, "n_test": 32}}},
           "dataset": "tiny", "methods": ["fc_head"], "seeds": [0, 1, 2], "data": {"cache": False},
           "model": {"ffn_dim": 32}, "train": {"epochs": 3, "batch_size": 32}}  # train.device: the default, auto
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    env = {"L2L_FAKE_GPUS": "2", "L2L_GPU_LEASE_DIR": str(tmp_path / "leases"), "SLURM_JOB_ID": ""}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "--configfile", str(tmp_path / "c.yaml"), "--cores", "2",
                          "--resources", "gpu=2", "-p", "all"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "--runs-per-gpu 1 " in res.stdout + res.stderr  # resources.runs_per_gpu's default reaches the job

    runs = sorted((tmp_path / "results" / "gpus" / "runs").rglob("metrics.json"))
    assert len(runs) == 3
    for path in runs:
        metrics = json.loads(path.read_text())
        assert metrics["device_used"] == "cpu" and metrics["gpu_fake"] == "true"
        assert metrics["gpu_lease"] in ("0", "1") and metrics["gpu_lease_slot"] == "1/1"
        assert yaml.safe_load((path.parent / "config.yaml").read_text())["train"]["device"] == "auto"
    for log in (tmp_path / "results" / "gpus" / "logs" / "train").rglob("*.log"):
        assert "GPU lease: device " in log.read_text() and "of 2 device(s)" in log.read_text()

    tracked = list_runs(f"sqlite:///{tmp_path}/results/mlflow.db", "gpus")
    assert len(tracked) == 3 and all(r.data.tags["device_used"] == "cpu" for r in tracked)
    spans = [(r.info.start_time, r.info.end_time, r.data.tags["gpu_lease"]) for r in tracked]
    overlapping = [(a, b) for a, b in itertools.combinations(spans, 2) if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, spans  # two jobs did run at once (--cores 2), else this test would show nothing
    assert all(a[2] != b[2] for a, b in overlapping), spans  # ... and never on the same device
    assert {s[2] for s in spans} == {"0", "1"}


@pytest.mark.parametrize("runs_per_gpu", [None, 2])
def test_dry_run_of_table9_keeps_device_auto(tmp_path, runs_per_gpu):
    """`snakemake -n -p table9` on a machine without a GPU: every PA-100K run config says auto (the job
    picks CUDA where it runs), each train job asks for one gpu unit, and resources.runs_per_gpu (default 1)
    reaches it."""
    extra = []
    if runs_per_gpu:
        (tmp_path / "k.yaml").write_text(yaml.safe_dump({"resources": {"runs_per_gpu": runs_per_gpu}}))
        extra = ["--configfile", str(tmp_path / "k.yaml")]
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), *extra, "-n", "-p", "table9"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = [j for j in res.stdout.split("rule ") if j.startswith("train:")]
    assert len(jobs) == 9  # FC Head, AQN, Label2Label x 3 seeds
    for job in jobs:
        cfg = json.loads(job.split("--config-json '")[1].split("' --set")[0])
        assert cfg["data"]["path"].endswith("/pa100k") and cfg["train"]["device"] == "auto"
        assert "gpu=1" in job.split("resources:")[1].splitlines()[0]
        assert f"--runs-per-gpu {runs_per_gpu or 1} --out" in job
