"""The throughput benchmark's bookkeeping: which measurement prices which block of the paper grid, a
saved result re-projected without measuring, and a missing MLflow that must not lose the rows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchmarks import throughput
from benchmarks.paper_grid import PAPER_GRID, total_runs


def _row(method: str, batch: int, train: float, size: int = 250) -> dict:
    return {"method": method, "backbone": "resnet50", "image_size": [size, size], "batch_size": batch,
            "plain_train_img_s": train, "fast_train_img_s": 2 * train,
            "plain_eval_img_s": 4 * train, "fast_eval_img_s": 8 * train, "train_ratio": 2.0, "eval_ratio": 2.0,
            "plain_data_img_s": 1000.0, "fast_data_img_s": 9000.0}


def test_rate_takes_the_recipes_batch_among_equal_inputs() -> None:
    rows = [_row("aqn", 16, 100.0), _row("aqn", 64, 400.0)]
    assert throughput._rate(rows, "aqn", "resnet50", (250, 250), 16, "plain_train_img_s") == (100.0, "measured")
    rate, how = throughput._rate(rows, "aqn", "resnet50", (250, 250), 64, "plain_train_img_s")
    assert rate == 400.0 and how == "measured"
    rate, how = throughput._rate(rows, "aqn", "resnet50", (250, 250), 32, "plain_train_img_s")
    assert rate in (100.0, 400.0) and "batch" in how  # no exact batch: said so


def test_rate_prefers_the_largest_input_then_scales_by_pixels() -> None:
    rows = [_row("fc_head", 16, 1000.0, size=64), _row("fc_head", 64, 100.0, size=125)]
    rate, how = throughput._rate(rows, "fc_head", "resnet50", (250, 250), 16, "plain_train_img_s")
    assert rate == pytest.approx(100.0 / 4) and "125x125 -> 250x250" in how and "batch 64 for 16" in how
    assert throughput._rate(rows, "aqn", "resnet50", (250, 250), 16, "plain_train_img_s") is None


def test_reproject_recomputes_a_saved_result_in_place(tmp_path: Path) -> None:
    rows = [_row(m, b, t) for m, t in (("fc_head", 400.0), ("aqn", 300.0), ("label2label", 200.0)) for b in (16, 64)]
    saved = tmp_path / "gpu.json"
    saved.write_text(json.dumps({"machine": {"cpu": "x", "device": "cuda", "torch": "t", "gpu": "card"},
                                 "rows": rows, "overhead": {"total_s": 10.0, "python_start_s": 0.1,
                                                            "import_engine_s": 5.0, "mlflow_run_setup_s": 4.9}}))
    result = throughput.main(["--reproject", str(saved)])
    proj = json.loads(saved.read_text())["projection"]
    assert proj == result["projection"] and proj["complete"] and proj["runs"] == total_runs() == 102
    lfwa_l2l = next(b for b in proj["blocks"] if b["dataset"] == "lfwa" and b["table"] == "5"
                    and b["method"] == "label2label" and b["backbone"] == "resnet50")
    block = next(b for b in PAPER_GRID if b.dataset == "lfwa" and b.method == "label2label" and b.table == "5")
    per_run = block.epochs * (block.n_train / 200.0 + block.n_test / 800.0) + 10.0  # batch-16 row, as the recipe
    assert lfwa_l2l["plain_hours"] == pytest.approx(per_run * 3 / 3600)
    assert "Total: plain" in saved.with_suffix(".md").read_text()


def test_missing_mlflow_keeps_the_measured_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_mlflow() -> dict:
        raise subprocess.CalledProcessError(1, ["python"], stderr="Traceback\nModuleNotFoundError: No module named 'mlflow'\n")

    monkeypatch.setattr(throughput, "job_overhead", no_mlflow)
    out = tmp_path / "bench.json"
    result = throughput.main(["--device", "cpu", "--configs", "small_cnn:32:8:16:1", "--methods", "fc_head",
                              "--repeats", "1", "--warmup", "1", "--n-images", "16", "--skip-epoch",
                              "--data-dir", str(tmp_path / "data"), "--out", str(out)])
    assert result["overhead_error"] == "ModuleNotFoundError: No module named 'mlflow'"
    saved = json.loads(out.read_text())
    assert len(saved["rows"]) == 1 and "partial" not in saved and "overhead" not in saved
    assert "Per-job overhead not measured (ModuleNotFoundError" in out.with_suffix(".md").read_text()


def test_packing_mode_runs_k_processes_and_writes_its_table(tmp_path: Path) -> None:
    """--packing: k = 1 and 2 real worker processes on the CPU; the JSON and the table say what was run."""
    out = tmp_path / "packing.json"
    result = throughput.main(["--packing", "1", "2", "--device", "cpu", "--configs", "small_cnn:32:8:8:1",
                              "--methods", "fc_head", "--repeats", "1", "--warmup", "1", "--n-images", "16",
                              "--packing-seconds", "0.5", "--data-dir", str(tmp_path / "data"), "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["packing"] == result["packing"] and "partial" not in saved and "rows" not in saved
    rows = saved["packing"][0]["rows"]
    assert [r["k"] for r in rows] == [1, 2] and [len(r["samples"][0]) for r in rows] == [1, 2]  # one rate per process
    assert all(r["aggregate_img_s"] == pytest.approx(sum(r["samples"][0]), rel=1e-3) for r in rows)
    assert rows[0]["gain_vs_first"] == 1.0 and rows[1]["gain_vs_first"] > 0
    text = out.with_suffix(".md").read_text()
    assert "Packing: fc_head / small_cnn 32x32 batch 8 on cpu" in text and "| 2 |" in text
