"""Resume after the dataset's attribute count changed (issue 23, item 10): one line naming resume.ckpt and
saying to delete it, never torch's size-mismatch traceback on every rerun."""

from __future__ import annotations

import shutil

import pytest
import torch

from l2l.checkpoint import save_checkpoint
from l2l.config import resolve
from l2l.data.format import load_prepared, write_prepared
from l2l.engine import Trainer
from l2l.errors import UserError


def _drop_last_attribute(root) -> None:
    d = load_prepared(root)
    write_prepared(root, d.name, d.attributes[:-1], d.images, d.splits, d.labels[:, :-1], d.meta["source"], {})


@pytest.mark.parametrize("legacy", [False, True])
def test_resume_with_another_attribute_count_is_one_line(tiny_dataset, tmp_path, monkeypatch, legacy):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data, run = shutil.copytree(tiny_dataset, tmp_path / "ds"), tmp_path / "run"
    cfg = resolve({"model": {"ffn_dim": 32}, "train": {"epochs": 2, "batch_size": 32},
                   "data": {"path": str(data), "cache": False},
                   "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "resume-shape"}})
    trainer = Trainer(cfg, run, log=lambda m: None)
    trainer.setup()
    trainer.tracker.finish("KILLED")
    if legacy:  # a resume.ckpt written before it recorded the dataset's content hash
        ckpt = torch.load(run / "resume.ckpt", weights_only=True)
        del ckpt["data_sha256"]
        save_checkpoint(run / "resume.ckpt", ckpt)
    _drop_last_attribute(data)
    why = "does not fit this run's .*size mismatch" if legacy else "trained on another version of"
    with pytest.raises(UserError, match=rf"resume\.ckpt: .*{why}.*delete .*to start the run over"):
        Trainer(cfg, run, log=lambda m: None).setup()
