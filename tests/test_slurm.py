"""The real pipeline through workflow/profiles/slurm on a real single-node SLURM (127.0.0.1).

.ci/slurm-up.sh starts munge + slurmctld + slurmd (idempotent); .ci/run installs Debian's packages.
Without SLURM installed (or without root) these tests are skipped, with the reason.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import list_runs

from helpers import REPO

PROFILE = REPO / "workflow" / "profiles" / "slurm"
NEEDED = ("slurmctld", "slurmd", "sbatch", "squeue", "munged")
MISSING = [t for t in NEEDED if not (shutil.which(t) or Path(f"/usr/sbin/{t}").exists())]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.long,
    pytest.mark.skipif(bool(MISSING), reason=f"SLURM is not installed (missing {', '.join(MISSING)}); "
                                             "apt-get install slurmctld slurmd slurm-client munge (.ci/run does)"),
]


def _node_up() -> bool:
    res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return res.returncode == 0 and any(s in res.stdout for s in ("idle", "mixed", "allocated"))


@pytest.fixture(scope="module")
def slurm():
    """Bring the cluster up; take it down afterwards only if this test started it."""
    was_up = _node_up()
    res = subprocess.run([str(REPO / ".ci" / "slurm-up.sh")], capture_output=True, text=True, timeout=120)
    if res.returncode == 3:
        pytest.skip(res.stderr.strip())
    assert res.returncode == 0, res.stdout + res.stderr
    yield
    if not was_up:
        subprocess.run([str(REPO / ".ci" / "slurm-down.sh")], capture_output=True, timeout=60)


def _config(tmp_path: Path, data: dict | None = None, **train) -> Path:
    cfg = {
        "experiment": "slurm",
        "results_dir": str(tmp_path / "results"),
        "tracking_uri": f"sqlite:///{tmp_path}/results/mlflow.db",
        "datasets": {"tiny": {"source": "embedded", "embedded": {"n_train": 400, "n_val": 48, "n_test": 48}}},
        "dataset": "tiny",
        "methods": ["label2label"],
        "seeds": [0, 1],
        "model": {"ffn_dim": 32},
        "train": {"epochs": 3, "batch_size": 16, "device": "cpu", **train},  # no GPU on the test node
        "resources": {"threads": 1, "mem_mb": 1000, "runtime": 15},
        **({"data": data} if data else {}),
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(tmp_path: Path, config: Path, *extra: str, limit: int = 900) -> list[str]:
    return ["timeout", "-k", "10", str(limit), sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
            "--directory", str(tmp_path), "--configfile", str(config), "--profile", str(PROFILE),
            "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
            "--verbose", *extra]


def _env() -> dict[str, str]:
    """Jobs inherit this environment (sbatch --export=ALL): l2l and python must be found on PATH."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(REPO)
    return env


def _job_ids(text: str) -> list[str]:
    return re.findall(r"running as SLURM job (\d+) on ", text)


def _scontrol_state(job_id: str) -> str:
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    match = re.search(r"JobState=(\S+)", out)
    return match.group(1) if match else out.strip()


def _train_logs(tmp_path: Path) -> dict[str, str]:
    logs = tmp_path / "results" / "slurm" / "logs" / "train"
    return {p.parent.name + "/" + p.stem: p.read_text() for p in logs.rglob("*.log")}


def _check_complete(tmp_path: Path) -> list:
    exp = tmp_path / "results" / "slurm"
    table = pd.read_csv(exp / "table.csv")
    assert list(table["method"]) == ["label2label"] and list(table["n"]) == [2]
    runs = list_runs(f"sqlite:///{tmp_path}/results/mlflow.db", "slurm")
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert all("test_error" in r.data.metrics for r in runs)
    return runs


def _wait_for_epoch_1_inside_slurm(proc: subprocess.Popen, log: Path) -> str:
    """The SLURM job id of the run whose log this is, once its first epoch is done."""
    t0 = time.time()
    while time.time() - t0 < 600 and proc.poll() is None:
        text = log.read_text() if log.exists() else ""
        if "epoch 1/3" in text and _job_ids(text):
            return _job_ids(text)[0]
        time.sleep(0.2)
    raise AssertionError(f"{log.name} never reached epoch 1 inside SLURM: {log.read_text() if log.exists() else 'no log'}")


def test_pipeline_runs_as_slurm_jobs_and_a_preempted_job_resumes(slurm, tmp_path):
    """The whole pipeline through the profile; seed 0's job gets SIGTERM mid-training (what SLURM sends on
    preemption or at the time limit) and is retried as a new SLURM job that resumes in the same MLflow run,
    while seed 1 runs once."""
    t0 = time.time()
    # no image cache: the train jobs are the only submitted ones (which rules are local is checked for every
    # rule in tests/test_pipeline.py)
    config = _config(tmp_path, data={"cache": False})
    proc = subprocess.Popen(_snakemake(tmp_path, config, "all"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env())
    run = Path("tiny", "small_cnn", "label2label", "base", "clean")
    seed0_log = tmp_path / "results" / "slurm" / "logs" / "train" / run / "seed0.log"
    first = _wait_for_epoch_1_inside_slurm(proc, seed0_log)
    subprocess.run(["scancel", "--signal=TERM", first], check=True)
    out = proc.communicate(timeout=900)[0]
    wall = time.time() - t0
    assert proc.returncode == 0, out[-5000:]
    runs = _check_complete(tmp_path)

    logs = _train_logs(tmp_path)
    assert len(logs) == 2
    ids = {name: _job_ids(text) for name, text in logs.items()}
    seed0, seed1 = ids["clean/seed0"], ids["clean/seed1"]
    assert len(seed1) == 1, ids  # seed 1's train job ran once, inside SLURM
    assert len(seed0) == 2 and seed0[0] == first and seed0[1] not in (first, seed1[0]), ids  # killed, retried
    text = logs["clean/seed0"]  # both attempts: the killed job's lines are kept, then the retry's
    assert text.count("==== attempt started") == 2
    assert "resuming from" in text and "test error" in text
    assert _scontrol_state(first) in ("FAILED", "CANCELLED"), _scontrol_state(first)
    for job_id in (seed0[1], seed1[0]):
        assert _scontrol_state(job_id) == "COMPLETED"
    for job_id in (*seed0, *seed1):
        assert list((tmp_path / ".snakemake" / "slurm_logs" / "rule_train").rglob(f"{job_id}.log")), job_id
    by_seed = {r.data.tags["seed"]: r for r in runs}
    assert by_seed["0"].data.tags["slurm_job_id"] == seed0[1]  # one MLflow run across both SLURM jobs
    assert by_seed["1"].data.tags["slurm_job_id"] == seed1[0]
    from mlflow.tracking import MlflowClient

    steps = [m.step for m in MlflowClient(f"sqlite:///{tmp_path}/results/mlflow.db")
             .get_metric_history(by_seed["0"].info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3]

    # the CPU config asked SLURM for CPUs and memory, no GPU; the retry was submitted the same way
    calls = [line for line in out.splitlines() if "sbatch call:" in line and "rule_train" in line]
    assert len(calls) == 3, out[-3000:]
    assert all("--cpus-per-task=1" in c and "--mem 1000" in c and "-t 15" in c and "-p debug" in c
               and "--requeue" in c and "--gpus" not in c for c in calls), calls
    # short rules (dataset generation, tracking set-up, the table) stayed local: only the train jobs were submitted
    others = [line for line in out.splitlines() if "sbatch call:" in line and "rule_train" not in line]
    assert others == [], others
    assert "localrule aggregate:" in out and "localrule init_tracking:" in out, out[-3000:]
    print(f"\nSLURM pipeline wall time (one preemption): {wall:.1f} s")


def test_gpu_request_reaches_sbatch(slurm, tmp_path):
    """train.device=cuda: the train job asks sbatch for --gpus=1 and --cpus-per-gpu from the profile.

    This node has no GPU, so SLURM refuses the request; the check is on the command line it got. Without the
    image cache (data.cache: false) no other SLURM job comes first: the train jobs are the first submitted.
    """
    config = _config(tmp_path, data={"cache": False}, device="cuda")
    res = subprocess.run(_snakemake(tmp_path, config, "--retries", "0", "all", limit=300),
                         capture_output=True, text=True, env=_env(), timeout=360)
    out = res.stdout + res.stderr
    calls = [line for line in out.splitlines() if line.strip().startswith("sbatch ") and "rule_train" in line]
    assert calls and "rule_cache_dataset" not in out, out[-5000:]
    assert all("--gpus=1" in c and "--cpus-per-gpu=4" in c and "--cpus-per-task" not in c for c in calls), calls
    assert res.returncode != 0  # no GPU on this node: sbatch refuses the job
    assert list_runs(f"sqlite:///{tmp_path}/results/mlflow.db", "slurm") == []  # no job started


def test_rehearsal_of_table9_through_the_profile(slurm, tmp_path):
    """A slice of the paper suite's rehearsal (docs/rehearsal.md) through the SLURM profile: Table 9 (PA-100K,
    ResNet-50) with one of its three methods, from its stand-in annotation.mat + data/ and stand-in weights.
    The stand-ins, the weights fetch, the tracking set-up and the table stay on the submitting machine; prepare
    and train are SLURM jobs, which load the weights offline from the cache the fetch filled. (The whole
    rehearsal is a command: `snakemake --cores 2 paper --config rehearsal=true`.)"""
    one_method = tmp_path / "one_method.yaml"
    one_method.write_text(yaml.safe_dump({"tables": {"table9": {"methods": ["label2label"], "compare": []}}}))
    res = subprocess.run(
        ["timeout", "-k", "10", "900", sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "2",
         "--seconds-between-status-checks", "2", "--verbose", "table9", "--configfile", str(one_method),
         "--config", "rehearsal=true"],
        capture_output=True, text=True, env=_env(), timeout=960)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    submitted = {m for m in re.findall(r"sbatch call:.*?rule_(\w+)", out)}
    assert submitted == {"prepare_dataset", "train"}, submitted
    for rule in ("standin_dataset", "standin_weights", "fetch_weights", "init_tracking", "table"):
        assert f"localrule {rule}:" in out, rule
    exp = tmp_path / "results" / "rehearsal" / "paper"
    table = pd.read_csv(exp / "tables" / "table9" / "table.csv")
    assert list(table["method"]) == ["label2label"] and set(table["n"]) == {1}
    runs = list_runs(f"sqlite:///{tmp_path}/results/rehearsal/mlflow.db", "paper")
    assert len(runs) == 1 and all(r.info.status == "FINISHED" and r.data.tags.get("slurm_job_id") for r in runs)
    assert not (tmp_path / "results" / "paper").exists()  # a real run's folder is never touched
