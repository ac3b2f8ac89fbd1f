"""The reproduction summary on hand-made table.csv files with hand-computed numbers."""

from pathlib import Path

import pandas as pd
import pytest

from l2l.report.reproduction import summarize, to_markdown

NAN = float("nan")


def _table(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _row(label, method, mean, std, paper, n=3, value=None, backbone="resnet50"):
    return {"table": "t", "label": label, "method": method, "backbone": backbone, "value": value,
            "shown": True, "n": n, "error_mean": mean, "error_std": std, "error_paper": paper}


def test_cells_z_inside_and_method_ordering(tmp_path: Path):
    t9 = _table(tmp_path / "table9/table.csv", [
        _row("FC Head", "fc_head", 13.0, 0.5, 13.63),   # z = (13.0 - 13.63) / 0.5 = -1.26, inside
        _row("AQN", "aqn", 12.0, 0.2, 12.66),           # z = -3.3, outside 2 std
        _row("Label2Label", "label2label", 12.5, 0.1, 12.49),
    ])
    cells, checks = summarize({"table9": t9})
    fc = cells.set_index("cell").loc["FC Head"]
    assert fc["z"] == pytest.approx(-1.26)
    assert bool(fc["inside_2std"]) is True
    assert bool(cells.set_index("cell").loc["AQN", "inside_2std"]) is False
    [check] = checks.to_dict("records")
    assert check["ours"] == "aqn , label2label , fc_head"  # AQN best here: the paper's order does not hold
    assert check["holds"] is False


def test_ablation_best_setting_and_markdown(tmp_path: Path):
    t3 = _table(tmp_path / "table3/table.csv", [
        _row("alpha = 0.0", "label2label", 12.60, 0.1, 12.55, value=0.0),
        _row("alpha = 0.1", "label2label", 12.40, 0.1, 12.49, value=0.1),
        _row("alpha = 0.2", "label2label", 12.50, 0.1, 12.54, value=0.2),
    ])
    cells, checks = summarize({"table3": t3})
    [check] = checks.to_dict("records")
    assert (check["ours"], check["paper"], check["holds"]) == ("alpha = 0.1", "alpha = 0.1", True)
    md = to_markdown(cells, checks, "paper", "official")
    assert md.startswith("# Reproduction summary")
    assert "3 cells run, 3 with a paper number, 3 of those inside" in md


def test_one_seed_has_no_std_and_no_paper_number(tmp_path: Path):
    t = _table(tmp_path / "table8/table.csv", [_row("Label2Label", "label2label", 12.4, 0.0, NAN, n=1)])
    cells, checks = summarize({"table8": t})
    r = cells.iloc[0]
    assert pd.isna(r["z"]) and r["inside_2std"] is None
    assert checks.empty
