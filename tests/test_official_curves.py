"""A table of official-protocol runs: their history has no val_error (train+val are trained on, the epoch is
selected on test), so the curves plot test_error. Found by the rehearsal of the paper suite (issue 20 item 4):
every table of `snakemake paper` failed in curves.png with "Column not found: val_error"."""

import json

import pandas as pd
import yaml

from l2l.plan.tables import plan_table
from l2l.report.paper import build_table
from l2l.report.plots import curve_column

RUN = "{root}/runs/{dataset}/{backbone}/{method}/{variant}/{protocol}/seed{seed}"


def test_official_histories_without_val_error_build_their_table(tmp_path):
    spec = {"dataset": "pa100k", "backbones": ["resnet50"], "methods": ["fc_head", "aqn", "label2label"]}
    plan = plan_table("table9", spec, {"name": "paper"}, [0, 1], lambda d: {},
                      lambda **kw: RUN.format(root=tmp_path, **kw), protocol="official")
    for cell in plan["cells"]:
        for seed, run in enumerate(cell["runs"]):
            path = tmp_path / run
            path.mkdir(parents=True)
            (path / "metrics.json").write_text(json.dumps({"test": {"error": 20.0 + seed}}))
            pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "test_error": [30.0, 20.0 + seed]}).to_csv(
                path / "history.csv", index=False)
    paper = tmp_path / "paper.yaml"
    paper.write_text(yaml.safe_dump({}))
    build_table(plan, paper, tmp_path / "out")
    assert (tmp_path / "out" / "curves.png").stat().st_size > 2000


def test_curve_column_prefers_validation():
    with_val = pd.DataFrame({"epoch": [1], "val_error": [1.0], "test_error": [2.0]})
    official = pd.DataFrame({"epoch": [1], "test_error": [2.0]})
    assert curve_column([with_val, with_val]) == "val_error"
    assert curve_column([with_val, official]) == "test_error"


def test_histories_without_per_epoch_evaluation_plot_the_training_loss(tmp_path):
    """The official Clothing recipe evaluates once, at the end: its history has no error column at all (the
    rehearsal of `snakemake paper` failed on Table 10 with "Column not found: test_error")."""
    spec = {"dataset": "clothing", "backbones": ["alexnet"], "methods": ["fc_head", "aqn", "label2label"],
            "metrics": ["label_accuracy"]}
    plan = plan_table("table10", spec, {"name": "paper"}, [0], lambda d: {},
                      lambda **kw: RUN.format(root=tmp_path, **kw), protocol="official")
    for cell in plan["cells"]:
        for run in cell["runs"]:
            path = tmp_path / run
            path.mkdir(parents=True)
            (path / "metrics.json").write_text(json.dumps({"test": {"error": 10.0, "label_accuracy": 90.0}}))
            pd.DataFrame({"epoch": [1, 2], "train_loss": [0.7, 0.5], "lr": [0.05, 0.01]}).to_csv(
                path / "history.csv", index=False)
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump({}))
    build_table(plan, tmp_path / "paper.yaml", tmp_path / "out")
    assert curve_column([pd.read_csv(tmp_path / plan["cells"][0]["runs"][0] / "history.csv")]) == "train_loss"
    assert (tmp_path / "out" / "curves.png").stat().st_size > 2000
