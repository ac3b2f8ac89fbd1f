"""Checkpoints cannot run code (issue 13.1): model.pt, resume.ckpt and model.init_from are read with
weights_only=True; a crafted pickle is refused with one line naming the file, and its payload never runs."""

import shutil
import subprocess
import sys

import pytest
import torch

from l2l.checkpoint import load_checkpoint
from l2l.engine import train
from l2l.errors import UserError

from helpers import run_config


class Payload:
    """Unpickling this would create ``marker`` (a stand-in for os.system)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _craft(path, marker, **extra):
    torch.save({"model": {"w": torch.zeros(1)}, "evil": Payload(marker), **extra}, path)
    return path


def _cfg(dataset, tmp_path, method="fc_head", **over):
    return run_config(dataset, tmp_path, "safety", method, train={"epochs": 1, "batch_size": 32}, **over)


@pytest.fixture(scope="module")
def real_run(tiny_dataset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    train(_cfg(tiny_dataset, tmp), tmp / "run", log=lambda m: None)
    return tmp / "run"


def test_the_payload_does_run_without_weights_only(tmp_path):
    """The crafted file is a real attack: the old weights_only=False load writes the marker."""
    marker = tmp_path / "pwned"
    torch.load(_craft(tmp_path / "x.pt", marker), weights_only=False)
    assert marker.exists()


def test_predict_refuses_a_crafted_model_pt(real_run, tiny_dataset, tmp_path):
    run = shutil.copytree(real_run, tmp_path / "run")
    marker = tmp_path / "pwned"
    _craft(run / "model.pt", marker, attributes=["a"])
    res = subprocess.run([sys.executable, "-m", "l2l", "predict", "--run", str(run), "--images",
                          str(tiny_dataset / "images"), "--out", str(tmp_path / "p.csv")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and not marker.exists()
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{run / 'model.pt'}: checkpoint cannot be loaded" in lines[0], res.stderr
    assert "unsafe" in lines[0] and not (tmp_path / "p.csv").exists()


def test_training_refuses_a_crafted_resume_ckpt(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    marker = tmp_path / "pwned"
    (tmp_path / "run").mkdir()
    _craft(tmp_path / "run" / "resume.ckpt", marker)
    with pytest.raises(UserError, match=r"resume\.ckpt: checkpoint cannot be loaded.*delete it"):
        train(_cfg(tiny_dataset, tmp_path), tmp_path / "run", log=lambda m: None)
    assert not marker.exists()


def test_two_stage_refuses_a_crafted_init_from(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    marker = tmp_path / "pwned"
    bad = _craft(tmp_path / "aqn_model.pt", marker, config={"method": "aqn"})
    cfg = _cfg(tiny_dataset, tmp_path, method="mlm_mlp", model={"init_from": str(bad), "ffn_dim": 32})
    with pytest.raises(UserError, match=r"aqn_model\.pt: checkpoint cannot be loaded"):
        train(cfg, tmp_path / "run", log=lambda m: None)
    assert not marker.exists()


def test_real_checkpoints_load_with_weights_only(real_run):
    ckpt = load_checkpoint(real_run / "model.pt", "unused")
    assert set(ckpt) == {"model", "config", "attributes"} and ckpt["config"]["method"] == "fc_head"
    torch.load(real_run / "model.pt", weights_only=True)  # the plain torch call, too
