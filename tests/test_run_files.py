"""`l2l train --out DIR` touches only its own files (issue 23, item 8; l2l/run_files.py): it removes only
the temporaries of its own atomic writes, and refuses to overwrite a config.yaml it did not write."""

from __future__ import annotations

import pytest

from l2l.config import resolve
from l2l.engine import Trainer
from l2l.errors import UserError
from l2l.run_files import claim_run_dir
from tests.inprocess import l2l


def _cfg(dataset, tmp_path):
    return resolve({"model": {"ffn_dim": 32}, "train": {"epochs": 1, "batch_size": 32},
                    "data": {"path": str(dataset)},
                    "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "run-files"}})


def test_only_the_runs_own_temporaries_are_removed(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "run"
    run.mkdir()
    (run / ".report.docx.tmp").write_text("someone else's half-saved file")
    (run / ".metrics.json.k3j2x9.tmp").write_text("{")  # ours: a killed atomic write of metrics.json
    trainer = Trainer(_cfg(tiny_dataset, tmp_path), run, log=lambda m: None)
    trainer.setup()
    trainer.tracker.finish("KILLED")
    assert (run / ".report.docx.tmp").read_text() == "someone else's half-saved file"
    assert not (run / ".metrics.json.k3j2x9.tmp").exists()


def test_a_hand_written_config_yaml_is_never_replaced(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    mine = f"data: {{path: {tiny_dataset}}}\ntrain: {{epochs: 1}}\nmodel: {{ffn_dim: 32}}\n"
    (tmp_path / "config.yaml").write_text(mine)
    res = l2l("train", "--config", "config.yaml", "--out", ".", "--set", f"tracking.uri=sqlite:///{tmp_path}/m.db")
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert "config.yaml: exists and was not written by l2l train" in res.stderr and "--out a new or run folder" in \
        res.stderr
    assert (tmp_path / "config.yaml").read_text() == mine


def test_a_rerun_in_its_own_run_folder_still_works(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run, cfg = tmp_path / "run", _cfg(tiny_dataset, tmp_path)
    for _ in range(2):  # the second finds the first one's config.yaml alone (killed before resume.ckpt): ours
        trainer = Trainer(cfg, run, log=lambda m: None)
        trainer.setup()
        trainer.tracker.finish("KILLED")
        (run / "resume.ckpt").unlink()
    (run / "config.yaml").write_text("seed: 3\n")  # while a partial hand-written one is not
    with pytest.raises(UserError, match="was not written by l2l train"):
        claim_run_dir(run)
