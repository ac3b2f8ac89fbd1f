"""`l2l aggregate` (the demo's table) on hand-made run folders with hand-computed means and sample stds."""

import json
import math

import pandas as pd
import pytest
import yaml

from l2l.cli import main

METRICS = ("error", "mA", "accuracy", "precision", "recall", "f1")


def _run(root, method, seed, error, ma, f1=50.0, group=None, **extra):
    run = root / "runs" / "emb" / "small_cnn" / method / "base" / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"method": method, "backbone": "small_cnn", "seed": seed,
                                                     "data": {"path": "data/emb"}}))
    test = {"error": error, "mA": ma, "accuracy": 60.0, "precision": 70.0, "recall": 65.0, "f1": f1,
            "group_accuracy": group or {"g": 100.0 - error}}
    (run / "metrics.json").write_text(json.dumps({"test": test, "selected_epoch": 3, "train_seconds": 1.5, **extra}))
    return run / "metrics.json"


def test_aggregate_means_and_sample_stds_by_hand(tmp_path):
    files = [_run(tmp_path, "label2label", s, e, m) for s, e, m in ((0, 10.0, 80.0), (1, 12.0, 84.0), (2, 17.0, 85.0))]
    files.append(_run(tmp_path, "fc_head", 0, 20.0, 70.0))
    out = tmp_path / "table"
    assert main(["aggregate", "--metrics", *map(str, files), "--out-dir", str(out)]) == 0
    # error: mean (10+12+17)/3 = 13, sample std sqrt((9+1+16)/2) = sqrt(13) = 3.6056
    # mA: mean (80+84+85)/3 = 83, sample std sqrt((9+1+4)/2) = sqrt(7) = 2.6458; one run: no std (no "± 0.00")
    lines = (out / "table.md").read_text().splitlines()
    assert "| dataset | backbone | method | n | error (%) | mA (%) | f1 (%) |" in lines
    rows = [line for line in lines if line.startswith("| emb ")]
    assert rows == ["| emb | small_cnn | fc_head | 1 | 20.00 | 70.00 | 50.00 |",
                    "| emb | small_cnn | label2label | 3 | 13.00 ± 3.61 | 83.00 ± 2.65 | 50.00 ± 0.00 |"]
    table = pd.read_csv(out / "table.csv").set_index("method")
    assert table.loc["label2label", "error_std"] == pytest.approx(math.sqrt(13))
    assert table.loc["label2label", "mA_std"] == pytest.approx(math.sqrt(7))
    assert table.loc["label2label", "group.g_mean"] == pytest.approx(87.0)
    assert table.loc["fc_head", "n"] == 1 and math.isnan(table.loc["fc_head", "error_std"])
    assert len(pd.read_csv(out / "runs.csv")) == 4
    assert "13.00 ± 3.61" in (out / "table.html").read_text() and (out / "error.png").stat().st_size > 0


def test_a_per_metric_selected_run_reports_each_metric_at_its_epoch(tmp_path):
    f = _run(tmp_path, "aqn", 0, 10.0, 80.0, test_per_metric={"mA": 88.0, "error": 9.0},
             selected_epochs={"mA": 2, "error": 4})
    assert main(["aggregate", "--metrics", str(f), "--out-dir", str(tmp_path / "t")]) == 0
    assert "| emb | small_cnn | aqn | 1 | 9.00 | 88.00 | 50.00 |" in \
        (tmp_path / "t" / "table.md").read_text()
