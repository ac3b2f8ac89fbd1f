"""The Snakemake report of a table suite, opened in a real headless browser (issue 14).

A tiny `ablations` suite (one seed, one epoch, 64 training images) runs through the real pipeline, then
`snakemake --report report.html ablations` builds the report; Chromium opens it and we look where a person
would: the Reproduction summary (shown, with its caption), every paper table of the suite (its table,
plot and curves, each with a caption that rendered), the attention map, and no docutils "System Message"
anywhere. Screenshots are kept in the test's tmp dir (paths printed; `-s` shows them).
"""

import time
from pathlib import Path

import pytest
import yaml

from l2l.plan import Planner, TablePlanner
from l2l.plan.experiment import load_experiment
from test_pipeline import _run
from test_ui import BROWSER_TEST, TIMEOUT, _shot, browser  # noqa: F401 (browser is a fixture)

pytestmark = BROWSER_TEST

TINY_SUITE = {
    "datasets": {"embedded_ablation": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 24, "n_test": 32}}},
    "recipes": {"embedded_ablation": {"train": {"epochs": 1, "batch_size": 32}}},
    "model": {"ffn_dim": 32},
    "table_suites": {"ablations": {"seeds": [0], "backbones": {"resnet101": None}, "attention": {"samples": [0]}}},
    # every table stays, each with one or two of its rows, so the suite trains 4 runs instead of 22
    "tables": {"table1": {"param": {"values": [2]}}, "table2": {"param": {"values": [1]}},
               "table3": {"param": {"values": [0.1]}}, "table4": {"param": {"values": [1.0, 0.5]}},
               "table6": {"param": {"values": ["attribute_specific"]}},
               "table7": {"methods": ["aqn", "label2label"], "compare": [["label2label", "aqn"]]}},
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"results_dir": str(root / "results"),
                                      "tracking_uri": f"sqlite:///{root}/results/mlflow.db", **TINY_SUITE}))
    res = _run(root, config, "--cores", "2", "ablations")
    assert res.returncode == 0, res.stderr[-3000:]
    res = _run(root, config, "--report", str(root / "report.html"), "ablations")
    assert res.returncode == 0, res.stderr[-3000:]
    tables = TablePlanner(Planner(load_experiment([config]), str.format, str.format)).tables("ablations")
    return root / "report.html", tables


def _open(driver, path: Path) -> None:
    driver.get("about:blank")  # the report is one page: a new get of the same URL keeps its state
    driver.get(path.as_uri())


def _click(driver, by, value):
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(EC.element_to_be_clickable((by, value))).click()


def _text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _caption_of_item(driver, index: int) -> str:
    """Open the info panel of the index-th result of the shown list; return the DESCRIPTION it renders."""
    from selenium.webdriver.common.by import By

    from selenium.webdriver.support.ui import WebDriverWait

    icons = WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "a[iconname='information-circle']")[index:index + 1])
    icons[0].click()
    deadline = time.time() + 30
    while "DESCRIPTION" not in (text := _text(driver)) and time.time() < deadline:
        time.sleep(0.2)
    assert "DESCRIPTION" in text, text[:2000]
    return text.split("DESCRIPTION", 1)[1].strip().split("\n")[0]


def test_report_shows_the_reproduction_summary_and_every_table(report, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    path, tables = report
    html = path.read_text()
    assert "System Message" not in html and "problematic" not in html  # every caption rendered
    _open(browser, path)
    _click(browser, By.LINK_TEXT, "Reproduction summary")
    caption = _caption_of_item(browser, 0)
    assert caption.startswith("Which of the paper's numbers the table suite of experiment ablations reproduced")
    _shot(browser, tmp_path / "report_summary_caption.png")
    browser.find_elements(By.CSS_SELECTOR, "a[iconname='eye']")[0].click()
    time.sleep(1)
    _shot(browser, tmp_path / "report_summary.png")

    def show_table(table: str) -> str:
        _open(browser, path)
        _click(browser, By.LINK_TEXT, "Paper tables")
        _click(browser, By.LINK_TEXT, table)
        return _text(browser)

    for table in tables:  # every table of the suite is listed with its three results
        listed = show_table(table)
        for figure in ("error plot", "table", "validation curves"):
            assert f"{table} {figure}" in listed, (table, listed[:1500])
    for i in range(3):  # the info panel replaces the list: one visit per caption
        show_table(tables[0])
        caption = _caption_of_item(browser, i)
        assert caption.startswith(f"Table {tables[0]} ") and "``" not in caption, (i, caption)
    _shot(browser, tmp_path / "report_table.png")

    _open(browser, path)
    _click(browser, By.LINK_TEXT, "Attention maps (Fig. 3)")
    assert "IC-MLM self-attention" in _caption_of_item(browser, 0)
    assert "System Message" not in _text(browser)


def test_reproduction_summary_covers_every_cell_of_the_suite(report):
    import pandas as pd

    path, tables = report
    summary = path.parent / "results" / "ablations" / "tables"
    cells = pd.read_csv(summary / "reproduction_summary.csv")
    shown = sum(int(pd.read_csv(summary / t / "table.csv")["shown"].sum()) for t in tables)
    assert len(cells) == shown and set(cells["table"]) == set(tables)
    assert (summary / "reproduction_summary.md").read_text().startswith("# Reproduction summary")
