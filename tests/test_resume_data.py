"""A run never mixes two datasets: resume.ckpt records the dataset's content hash (l2l/data/fingerprint.py),
and a rerun on a dataset regenerated or re-prepared at the same path refuses to resume (issue 23, item 1)."""

from __future__ import annotations

import pytest

from l2l.config import resolve
from l2l.data.embedded import generate
from l2l.data.fingerprint import data_sha256
from l2l.data.format import load_prepared
from l2l.engine import Trainer
from l2l.errors import UserError


def _cfg(dataset, tmp_path):
    return resolve({"model": {"ffn_dim": 32}, "train": {"epochs": 2, "batch_size": 32},
                    "data": {"path": str(dataset)},
                    "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "resume-data"}})


def _interrupted_run(cfg, run) -> None:
    """A job killed after setup: resume.ckpt (epoch -1) and its MLflow run are on disk."""
    trainer = Trainer(cfg, run, log=lambda m: None)
    trainer.setup()
    trainer.tracker.finish("KILLED")
    assert (run / "resume.ckpt").is_file()


def _gen(path, image_size):
    return generate(path, n_train=24, n_val=8, n_test=8, image_size=image_size, seed=0)


def test_same_labels_other_pixels_change_the_content_hash(tmp_path):
    a = load_prepared(_gen(tmp_path / "a", 32)).meta
    b = load_prepared(_gen(tmp_path / "b", 40)).meta
    again = load_prepared(_gen(tmp_path / "c", 32)).meta
    assert a["labels_sha256"] == b["labels_sha256"]  # the labels alone cannot tell these apart
    assert data_sha256(a) != data_sha256(b)
    assert data_sha256(a) == data_sha256(again)  # regenerating the same dataset keeps its hash


def test_resume_refused_on_a_regenerated_dataset(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data, run = _gen(tmp_path / "ds", 32), tmp_path / "run"
    cfg = _cfg(data, tmp_path)
    _interrupted_run(cfg, run)
    _gen(data, 40)  # same path, same labels, other pixels
    with pytest.raises(UserError, match=r"resume\.ckpt: its epochs were trained on another version of .*ds.*"
                                        r"delete .*resume\.ckpt to start the run over"):
        Trainer(cfg, run, log=lambda m: None).setup()
    assert (run / "resume.ckpt").is_file()  # nothing thrown away: the user decides


def test_resume_on_the_same_data_still_resumes(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data, run = _gen(tmp_path / "ds", 32), tmp_path / "run"
    cfg = _cfg(data, tmp_path)
    _interrupted_run(cfg, run)
    _gen(data, 32)  # regenerated identically: same content, the run resumes
    said = []
    trainer = Trainer(cfg, run, log=said.append)
    trainer.setup()
    trainer.tracker.finish("KILLED")
    assert any("resuming from" in m for m in said), said
