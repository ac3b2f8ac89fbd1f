"""Table planning and building on synthetic run folders; the paired statistics on known numbers."""

import json
import math

import pandas as pd
import pytest
import yaml

from l2l.plan.tables import plan_table
from l2l.report.paper import build_table, paired_stats, parse_printed

RUN = "{root}/runs/{dataset}/{backbone}/{method}/{variant}/seed{seed}"


def test_paired_stats_on_known_numbers():
    # diffs 1, 1, 3: mean 5/3, sample std sqrt(4/3), t = 2.5 with 2 dof -> two-sided p = 0.1296
    s = paired_stats({0: 1.0, 1: 2.0, 2: 4.0}, {0: 0.0, 1: 1.0, 2: 1.0})
    assert s["n"] == 3
    assert s["mean_diff"] == pytest.approx(5 / 3)
    assert s["std_diff"] == pytest.approx(math.sqrt(4 / 3))
    assert s["p_value"] == pytest.approx(0.12961, abs=1e-4)
    only_common = paired_stats({0: 1.0, 1: 2.0, 5: 9.0}, {0: 0.5, 1: 1.0})
    assert only_common["n"] == 2 and only_common["mean_diff"] == pytest.approx(0.75)
    assert math.isnan(paired_stats({0: 1.0}, {0: 0.0})["p_value"])


def test_parse_printed():
    assert parse_printed("13.63±0.02") == (13.63, 0.02)
    assert parse_printed(" 13.73± 0.02") == (13.73, 0.02)
    assert parse_printed(12.49) == (12.49, None)


def _write_run(path, error, seed, group=None, epochs=3):
    path.mkdir(parents=True)
    test = {"error": error, "mA": 100 - 2 * error, "group_accuracy": group or {"a": 90.0, "b": 80.0}}
    (path / "metrics.json").write_text(json.dumps({"test": test}))
    pd.DataFrame({"epoch": range(1, epochs + 1), "val_error": [error + 3, error + 1, error]}).to_csv(
        path / "history.csv", index=False)


def _plan(tmp_path, spec, suite=None):
    base = {"model": {"mlm_layers": 2, "aqn_layers": 1}}
    return plan_table("tableX", spec, suite or {"name": "s"}, [0, 1, 2], lambda d: base,
                      lambda **kw: RUN.format(root=tmp_path, **kw))


def test_plan_shares_the_default_run_and_adds_references(tmp_path):
    spec = {"dataset": "lfwa", "backbones": ["resnet50"], "methods": ["label2label"],
            "param": {"key": "mlm_layers", "label": "D", "values": [1, 2, 3]}}
    plan = _plan(tmp_path, spec)
    cells = [(c["method"], c["variant"], c["show"]) for c in plan["cells"]]
    assert cells == [("label2label", "mlm_layers=1", True), ("label2label", "base", True),
                     ("label2label", "mlm_layers=3", True), ("aqn", "base", False), ("fc_head", "base", False)]
    suite = {"name": "demo", "datasets": {"lfwa": "emb"}, "backbones": {"resnet50": "small_cnn", "vit_b_16": None}}
    plan = _plan(tmp_path, {"dataset": "lfwa", "backbones": ["resnet50", "vit_b_16"], "methods": ["aqn"]}, suite)
    assert {c["backbone"] for c in plan["cells"]} == {"small_cnn"}
    assert plan["cells"][0]["runs"][2].endswith("runs/emb/small_cnn/aqn/base/seed2")


def test_build_table_on_synthetic_runs(tmp_path):
    spec = {"dataset": "lfwa", "backbones": ["resnet50"], "methods": ["label2label"],
            "param": {"key": "mlm_layers", "label": "D", "values": [1, 2]}, "metrics": ["error", "group.*"]}
    plan = _plan(tmp_path, spec)
    errors = {"mlm_layers=1": [10.0, 11.0, 12.0], "base": [9.0, 9.5, 10.0]}
    for cell in plan["cells"]:
        for seed, run in enumerate(cell["runs"]):
            err = errors.get(cell["variant"], [0])[0] if cell["method"] == "label2label" else \
                {"aqn": 12.0, "fc_head": 14.0}[cell["method"]] + seed * 0.1
            if cell["method"] == "label2label":
                err = errors[cell["variant"]][seed]
            _write_run(tmp_path / run, err, seed)
    paper = tmp_path / "paper.yaml"
    paper.write_text(yaml.safe_dump({"tableX": {"rows": [
        {"method": "label2label", "value": 1, "error": "12.58"},
        {"method": "label2label", "value": 2, "error": "12.49±0.02"},
        {"name": "Other [1]", "error": "13.00"}]}}))
    out = tmp_path / "out"
    summary = build_table(plan, paper, out)
    row = summary[summary["variant"] == "base"].iloc[0]
    assert row["n"] == 3 and row["error_mean"] == pytest.approx(9.5) and row["error_std"] == pytest.approx(0.5)
    assert row["error_paper"] == 12.49 and row["error_paper_std"] == 0.02
    assert row["error_delta"] == pytest.approx(9.5 - 12.49)
    assert row["group.a_mean"] == 90.0
    stats = pd.read_csv(out / "stats.csv")
    l2l_aqn = stats[(stats.a == "label2label") & (stats.b == "aqn")].iloc[0]
    assert l2l_aqn["mean_diff"] == pytest.approx(9.5 - 12.1)  # aqn: 12.0, 12.1, 12.2
    md = (out / "table.md").read_text()
    assert "| D = 1 | 3 | 11.00 ± 1.00 | 12.58 | -1.58 |" in md
    assert "Other [1]" in md and "paired t-test" in md
    assert "![plot.png](plot.png)" in md
    assert "<table" in (out / "table.html").read_text()
    for png in ("plot.png", "curves.png"):
        assert (out / png).stat().st_size > 2000


def test_backbone_overrides_make_their_own_variant_and_reference(tmp_path):
    spec = {"dataset": "lfwa", "backbones": ["resnet50", "vit_b_16"], "methods": ["fc_head", "aqn", "label2label"],
            "backbone_overrides": {"vit_b_16": {"data.image_size": [224, 224]}}}
    plan = _plan(tmp_path, spec)
    variants = {(c["backbone"], c["method"]): c["variant"] for c in plan["cells"]}
    assert variants[("resnet50", "aqn")] == "base"
    assert variants[("vit_b_16", "aqn")] == "data.image_size=224x224"
    assert plan["reference_variants"] == {"resnet50": "base", "vit_b_16": "data.image_size=224x224"}
    for cell in plan["cells"]:
        for seed, run in enumerate(cell["runs"]):
            _write_run(tmp_path / run, {"fc_head": 14.0, "aqn": 13.0, "label2label": 12.0}[cell["method"]] + seed, seed)
    paper = tmp_path / "paper.yaml"
    paper.write_text("{}")
    build_table(plan, paper, tmp_path / "out")
    stats = pd.read_csv(tmp_path / "out" / "stats.csv")
    assert sorted(stats["backbone"]) == ["resnet50", "resnet50", "vit_b_16", "vit_b_16"]
    assert stats["mean_diff"].tolist() == pytest.approx([-1.0, -1.0, -1.0, -1.0])
