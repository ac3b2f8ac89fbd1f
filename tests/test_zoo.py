"""The model zoo (l2l/report/zoo.py, issue 24) on a tiny real run: hashed checkpoint names that match the
file, the cell's aggregate on its MLflow parent, a row's command that re-creates the run's metrics when run
as is, a missing checkpoint said so; and the bootstrap intervals (l2l/report/intervals.py)."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import run_config
from l2l.report.intervals import Bootstrap, mean_ci, paired_image_ci, verdict
from l2l.tracking import ROLE_TAG
from helpers import list_runs
from tests.inprocess import l2l

RUN = Path("results/zoo/runs/embedded/small_cnn/fc_head/base/clean/seed0")


@pytest.fixture(scope="module")
def zoo_dir(tiny_dataset, tmp_path_factory):
    """A tiny run in the pipeline's layout (relative paths, as Snakemake writes them), trained once."""
    import os

    from l2l.engine import train

    root = tmp_path_factory.mktemp("zoo")
    here = os.getcwd()
    os.chdir(root)
    try:
        cfg = run_config(tiny_dataset, root, "zoo", method="fc_head", train={"epochs": 1})
        tags = {f"wildcard.{k}": v for k, v in dict(dataset="embedded", backbone="small_cnn", method="fc_head",
                                                    variant="base", protocol="clean", seed="0").items()}
        train(cfg, RUN, tags=tags)
    finally:
        os.chdir(here)
    return root


def build(root: Path, monkeypatch) -> pd.DataFrame:
    monkeypatch.chdir(root)
    res = l2l("zoo", "--metrics", str(RUN / "metrics.json"), "--experiment", "zoo", "--out-dir", "results/zoo")
    assert res.returncode == 0, res.stderr
    return pd.read_csv(root / "results/zoo/zoo.csv", keep_default_na=False)


def test_zoo_checkpoint_name_carries_its_hash_and_parent_gets_the_cell(zoo_dir, monkeypatch):
    zoo = build(zoo_dir, monkeypatch)
    (seed,) = zoo[zoo["row"] == "seed"].to_dict("records")
    (cell,) = zoo[zoo["row"] == "cell"].to_dict("records")
    ckpt = zoo_dir / seed["checkpoint"]
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert ckpt.name == f"model-{digest[:8]}.pt" and seed["sha256"] == digest
    assert digest == hashlib.sha256((zoo_dir / RUN / "model.pt").read_bytes()).hexdigest()
    metrics = json.loads((zoo_dir / RUN / "metrics.json").read_text())
    assert seed["run_id"] == metrics["mlflow_run_id"] and int(cell["n"]) == 1
    assert "too small to tell" in cell["verdict"] or cell["verdict"] == "no paper number"
    (parent,) = [r for r in list_runs(f"sqlite:///{zoo_dir}/mlflow.db", "zoo", parents=True)
                 if r.data.tags.get(ROLE_TAG) == "parent"]
    assert parent.data.metrics["n"] == 1
    assert parent.data.metrics["error_mean"] == pytest.approx(metrics["test"]["error"])
    assert "## Checkpoints" in (zoo_dir / "results/zoo/zoo.md").read_text()
    per_image = np.load(zoo_dir / RUN / "test_image_errors.npy")  # the paired bootstrap's input, one per test image
    assert len(per_image) == 48 and per_image.mean() == pytest.approx(metrics["test"]["error"], abs=1e-4)


def test_zoo_command_recreates_the_run(zoo_dir, monkeypatch):
    zoo = build(zoo_dir, monkeypatch)
    (seed,) = zoo[zoo["row"] == "seed"].to_dict("records")
    subprocess.run(shlex.split(seed["command"]), cwd=zoo_dir, check=True, capture_output=True, timeout=300)
    out = Path(shlex.split(seed["command"])[-1])
    again = json.loads((zoo_dir / out / "metrics.json").read_text())["test"]
    before = json.loads((zoo_dir / RUN / "metrics.json").read_text())["test"]
    assert {k: again[k] for k in ("error", "mA", "f1")} == {k: before[k] for k in ("error", "mA", "f1")}


def test_zoo_says_a_missing_checkpoint(zoo_dir, monkeypatch, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(zoo_dir, copy)
    (copy / RUN / "model.pt").unlink()
    zoo = build(copy, monkeypatch)
    (seed,) = zoo[zoo["row"] == "seed"].to_dict("records")
    assert seed["checkpoint"] == f"missing: {RUN / 'model.pt'}" and seed["sha256"] == ""
    assert not list((copy / RUN).glob("model-*.pt"))  # no stale hash left beside it


def test_bootstrap_interval_is_seeded_and_covers_the_mean():
    boot = Bootstrap(seed=3, samples=2000, min_seeds=3)
    values = [12.0, 12.6, 13.1, 12.2]
    lo, hi = mean_ci(values, boot)
    assert lo < np.mean(values) < hi and (lo, hi) == mean_ci(values, boot)
    assert min(values) <= lo and hi <= max(values)
    many = list(np.random.default_rng(0).normal(12, 1, 10))  # enough distinct resamples to move with the seed
    assert mean_ci(many, Bootstrap(seed=4, samples=2000)) != mean_ci(many, Bootstrap(seed=3, samples=2000))
    assert verdict(12.5, lo, hi, 4, boot) == "consistent"
    assert verdict(20.0, lo, hi, 4, boot) == "not consistent"
    assert verdict(12.5, lo, hi, 2, boot).startswith("n = 2 too small to tell")
    assert verdict(float("nan"), lo, hi, 4, boot) == "no paper number"


def test_paired_image_bootstrap_finds_a_real_difference():
    rng = np.random.default_rng(0)
    a = rng.random((3, 400)) * 0.2 + 0.10  # per-image error of method A on 3 seeds
    diff, lo, hi = paired_image_ci(a, a - 0.05, Bootstrap(samples=2000))
    assert diff == pytest.approx(0.05) and lo == pytest.approx(0.05) and hi == pytest.approx(0.05)
    b = a + rng.normal(0, 0.05, a.shape)  # no real difference: the interval holds 0
    diff, lo, hi = paired_image_ci(a, b, Bootstrap(samples=2000))
    assert lo < 0 < hi and lo < diff < hi
