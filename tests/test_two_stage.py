"""Table 7's two-stage methods: the engine's one loop trains only the refiner on a frozen AQN run."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from l2l.config import resolve
from l2l.engine import train
from l2l.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def _cfg(tiny_dataset, tmp_path, method, **model):
    return resolve({"method": method, "seed": 0, "model": {"ffn_dim": 32, **model},
                    "train": {"epochs": 1, "batch_size": 32},
                    "data": {"path": str(tiny_dataset)},
                    "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "t"}})


@pytest.fixture(scope="module")
def aqn_run(tiny_dataset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aqn")
    train(_cfg(tiny_dataset, tmp, "aqn"), tmp / "run", log=lambda m: None)
    return tmp / "run"


@pytest.mark.parametrize("method", ["mlm_mlp", "mlm_encoder", "icmlm_2stage"])
def test_refiner_trains_and_stage_one_stays_frozen(method, aqn_run, tiny_dataset, tmp_path):
    stage_one = torch.load(aqn_run / "model.pt", weights_only=True)["model"]
    result = train(_cfg(tiny_dataset, tmp_path, method, init_from=str(aqn_run / "model.pt")), tmp_path / "run",
                   log=lambda m: None)
    after = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["model"]
    for key, value in stage_one.items():  # backbone (BatchNorm statistics included) and AQN unchanged
        assert torch.equal(after[key], value), key
    assert any(k.startswith("head.refiner.") for k in after)
    # the frozen AQN gives the same test predictions as the AQN run it came from
    aqn_error = yaml.safe_load((aqn_run / "metrics.json").read_text())["test"]["error"]
    assert result["test"]["aqn_error"] == pytest.approx(aqn_error)


def test_init_from_must_be_an_aqn_run(aqn_run, tiny_dataset, tmp_path):
    with pytest.raises(UserError, match="init_from"):
        _cfg(tiny_dataset, tmp_path, "mlm_mlp")
    l2l_dir = tmp_path / "l2l"
    train(_cfg(tiny_dataset, tmp_path, "label2label"), l2l_dir, log=lambda m: None)
    with pytest.raises(UserError, match="must be an AQN run"):
        train(_cfg(tiny_dataset, tmp_path, "mlm_mlp", init_from=str(l2l_dir / "model.pt")), tmp_path / "x",
              log=lambda m: None)


def test_dry_run_has_the_two_stage_edge(tmp_path):
    """`snakemake -n table7`-style: every two-stage job depends on the AQN run of its seed."""
    cfg = {"experiment": "t7", "results_dir": str(tmp_path / "results"),
           "tracking_uri": f"sqlite:///{tmp_path}/results/mlflow.db",
           "table_suites": {"ablations": {"seeds": [0, 1]}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    target = f"{tmp_path}/results/t7/tables/ablations/table7/table.md"
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "--configfile", str(tmp_path / "c.yaml"), "-n", "-p", target],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout + res.stderr
    jobs = out.split("rule ")
    for method in ("mlm_mlp", "mlm_encoder", "icmlm_2stage"):
        for seed in (0, 1):
            job = next(j for j in jobs if j.startswith("train:") and f"/{method}/base/seed{seed}/metrics.json" in j)
            aqn = f"runs/embedded_ablation/small_cnn/aqn/base/seed{seed}/model.pt"
            assert aqn in job.split("output:")[0], job[:500]  # an input of the job: the DAG edge
            assert f'"init_from": "{tmp_path}/results/t7/{aqn}"' in job  # the run config names it
