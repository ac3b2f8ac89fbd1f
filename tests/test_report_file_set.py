"""`l2l aggregate` and the paper tables write their files as one set (issue 23, item 19): a full disk in
the middle left table.csv new and table.md/html/png old; now it leaves the whole previous set."""

from __future__ import annotations

import errno
import json
import os

import yaml

from l2l.io import OutputWriteError
from l2l.report import aggregate as aggregate_module
from l2l.report.aggregate import aggregate


def _runs(root, errors):
    files = []
    for seed, error in enumerate(errors):
        run = root / "runs" / f"seed{seed}"
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.yaml").write_text(yaml.safe_dump({"method": "label2label", "backbone": "small_cnn",
                                                         "seed": seed, "data": {"path": "data/emb"}}))
        test = {"error": error, "mA": 80.0, "accuracy": 60.0, "precision": 70.0, "recall": 65.0, "f1": 50.0,
                "group_accuracy": {"g": 100.0 - error}}
        (run / "metrics.json").write_text(json.dumps({"test": test, "selected_epoch": 1, "train_seconds": 1.0}))
        files.append(run / "metrics.json")
    return files


def _snapshot(out):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_disk_full_mid_aggregate_leaves_the_previous_set(tmp_path, monkeypatch):
    out = tmp_path / "table"
    aggregate(_runs(tmp_path / "a", [10.0, 12.0]), out)
    before = _snapshot(out)
    assert sorted(before) == ["error.png", "runs.csv", "runs.html", "table.csv", "table.html", "table.md"]
    real = aggregate_module.write_text

    def full_at_md(path, text):
        if path.name == "table.md":
            raise OutputWriteError(f"{path}: cannot write ({os.strerror(errno.ENOSPC)})")
        return real(path, text)

    monkeypatch.setattr(aggregate_module, "write_text", full_at_md)
    try:
        aggregate(_runs(tmp_path / "b", [30.0, 34.0]), out)
    except OutputWriteError:
        pass
    else:
        raise AssertionError("the simulated full disk did not stop aggregate")
    assert _snapshot(out) == before  # csv, png, html: all still the previous set; no staging folder left
    monkeypatch.undo()
    aggregate(_runs(tmp_path / "b", [30.0, 34.0]), out)  # space freed: the new set, whole
    after = _snapshot(out)
    assert sorted(after) == sorted(before) and all(after[n] != before[n] for n in ("table.csv", "table.md"))
