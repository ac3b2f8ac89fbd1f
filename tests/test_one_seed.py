"""One seed reads right (issue 20 item 8): n = 1 has no spread, so no table prints "± 0.00" and the
reproduction summary says "no spread" where it would otherwise judge ours ± 2 std against the paper."""

import json
import math

import pandas as pd
import yaml

from l2l.plan.tables import plan_table
from l2l.report.paper import build_table
from l2l.report.reproduction import NO_SPREAD, summarize, to_html, to_markdown, write_summary

RUN = "{root}/runs/{dataset}/{backbone}/{method}/{variant}/seed{seed}"


def _one_seed_table(tmp_path):
    spec = {"dataset": "lfwa", "backbones": ["resnet50"], "methods": ["fc_head", "aqn", "label2label"]}
    plan = plan_table("table8", spec, {"name": "paper"}, [0], lambda d: {},
                      lambda **kw: RUN.format(root=tmp_path, **kw))
    for cell, err in zip(plan["cells"], (14.07, 13.50, 12.40)):
        run = tmp_path / cell["runs"][0]
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"test": {"error": err}}))
        pd.DataFrame({"epoch": [1], "val_error": [err]}).to_csv(run / "history.csv", index=False)
    paper = tmp_path / "paper.yaml"  # Label2Label's printed number only
    paper.write_text(yaml.safe_dump({"table8": {"rows": [{"method": "label2label", "error": "12.49"}]}}))
    out = tmp_path / "out"
    build_table(plan, paper, out)
    return out


def test_tables_of_one_seed_print_no_zero_std(tmp_path):
    out = _one_seed_table(tmp_path)
    md, html = (out / "table.md").read_text(), (out / "table.html").read_text()
    assert "| FC Head | 1 | 14.07 |" in md
    assert "±" not in md.split("Ours:")[1].split("\n", 1)[1], md  # the rows (the caption explains ±)
    assert "± 0.00" not in html and "14.07" in html
    table = pd.read_csv(out / "table.csv")
    assert table["n"].tolist() == [1, 1, 1] and table["error_std"].isna().all()  # empty, not 0.0


def test_reproduction_summary_says_no_spread_for_one_seed(tmp_path):
    out = _one_seed_table(tmp_path)
    cells, checks = summarize({"table8": out / "table.csv"})
    l2l = cells.set_index("cell").loc["Label2Label"]
    assert l2l["inside_2std"] == NO_SPREAD and math.isnan(l2l["z"])
    assert pd.isna(cells.set_index("cell").loc["FC Head", "inside_2std"])  # no paper number: nothing to judge
    md = to_markdown(cells, checks, "paper", "official")
    row = next(line for line in md.splitlines() if line.startswith("| table8 | Label2Label"))
    assert f"| {NO_SPREAD} |" in row and "**no**" not in row and "± 0.00" not in row, row
    assert row.endswith("| n = 1 too small to tell (needs 3 seeds) |"), row  # the bootstrap verdict (docs/zoo.md)
    assert "1 with one seed (no spread to compare with)" in md
    page = to_html(cells, checks, "paper", "official")
    assert NO_SPREAD in page and ">no<" not in page
    write_summary({"table8": out / "table.csv"}, tmp_path / "summary", "paper", "official")
    assert NO_SPREAD in (tmp_path / "summary" / "reproduction_summary.csv").read_text()
