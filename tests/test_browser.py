"""What a person looks at, checked in a real headless browser: the MLflow UI and the Snakemake report.

One tiny `ablations` suite (one seed, two epochs, 64 training images, every paper table with one of
its rows: 3 runs) goes through the real pipeline, then `snakemake --report report.html ablations`. Both
checks read that one suite, opened in headless Chromium (Selenium + chromedriver):
- the MLflow UI (`mlflow ui` on a free 127.0.0.1 port, against the suite's sqlite store): the experiment,
  one parent run per table cell (issue 24) with the seed runs under it, a run's parent, logged model, params
  and metrics, a metric chart with one point per epoch, and the experiment's logged models;
- the report: the Reproduction summary with its caption, every paper table of the suite (table, plot and
  curves, each with a caption that rendered), the attention map, and no docutils "System Message".
Screenshots land in the tests' tmp dirs (their paths are printed; run with ``-s`` to see them).
Skipped only where no Chromium/chromedriver is installed (``.ci/run`` installs Debian's).
"""

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from l2l.plan import Planner, TablePlanner
from l2l.plan.experiment import load_experiment
from helpers import list_runs
from mlflow_server import mlflow_server
from test_pipeline import _run

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
EPOCHS = 2
TIMEOUT = 180  # seconds for the server to start and for each page to render, on a loaded 2-core machine

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.long,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="no Chromium/chromedriver installed (Debian: apt-get install chromium "
                              "chromium-driver; .ci/run installs them)"),
]

TINY_SUITE = {
    "datasets": {"embedded_ablation": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 24, "n_test": 32}}},
    "recipes": {"embedded_ablation": {"train": {"epochs": EPOCHS, "batch_size": 32}}},
    "model": {"ffn_dim": 32},
    "data": {"cache": False},  # decoded in the train job: 3 cache jobs fewer (the cache has its own tests)
    "table_suites": {"ablations": {"seeds": [0], "backbones": {"resnet101": None}, "attention": {"samples": [0]}}},
    # every table stays, each with one of its rows, so the suite trains 3 runs instead of 22
    "tables": {"table1": {"param": {"values": [2]}}, "table2": {"param": {"values": [1]}},
               "table3": {"param": {"values": [0.1]}}, "table4": {"param": {"values": [1.0]}},
               "table6": {"param": {"values": ["attribute_specific"]}},
               "table7": {"methods": ["aqn", "label2label"], "compare": [["label2label", "aqn"]]}},
}
RUN = "embedded_ablation/label2label/small_cnn/base/clean/seed0"  # dataset/method/backbone/variant/protocol/seedN


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """(root, report.html, tables) of the tiny ablations suite, run once for every check of this file."""
    root = tmp_path_factory.mktemp("suite")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"results_dir": str(root / "results"),
                                      "tracking_uri": f"sqlite:///{root}/results/mlflow.db", **TINY_SUITE}))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        res = _run(root, config, "--cores", "2", "ablations")
        assert res.returncode == 0, res.stderr[-3000:]
        res = _run(root, config, "--report", str(root / "report.html"), "ablations")
        assert res.returncode == 0, res.stderr[-3000:]
    tables = TablePlanner(Planner(load_experiment([config]), str.format, str.format)).tables("ablations")
    return root, root / "report.html", tables


@pytest.fixture
def server(suite):
    root = suite[0]
    with mlflow_server("ui", f"sqlite:///{root}/results/mlflow.db", root / "mlflow_ui.log") as url:
        yield url


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--disable-dev-shm-usage", "--window-size=1920,1200"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_text(driver, *texts: str) -> str:
    """Wait until every text is on the rendered page (the UI is a React app that loads after the HTML)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        body = d.find_element(By.TAG_NAME, "body").text
        return body if all(t in body for t in texts) else False

    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.5).until(ready)
    except TimeoutException:
        body = driver.find_element(By.TAG_NAME, "body").text
        missing = [t for t in texts if t not in body]
        raise AssertionError(f"{driver.current_url}: not shown after {TIMEOUT}s: {missing}\npage text:\n{body[:3000]}")


def _shot(driver, path: Path) -> Path:
    assert driver.save_screenshot(str(path)), path
    print(f"screenshot: {path}")
    return path


def test_mlflow_ui_shows_experiment_runs_params_and_metric_chart(suite, server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root = suite[0]

    uri = f"sqlite:///{root}/results/mlflow.db"
    runs = list_runs(uri, "ablations")
    assert len(runs) == 3
    exp_id = runs[0].info.experiment_id
    names = sorted(r.info.run_name for r in runs)
    assert RUN in names
    ml = "workflowType=machine_learning"  # the "Model training" view (MLflow 3 opens on GenAI)

    browser.get(f"{server}/#/experiments?{ml}")
    _wait_for_text(browser, "ablations")
    _shot(browser, tmp_path / "ui_experiments.png")

    # issue 24: one parent run per table cell, the seed runs its children (shown collapsed under it)
    parents = [r for r in list_runs(uri, "ablations", parents=True) if r.data.tags.get("l2l.role") == "parent"]
    assert len(parents) == 3 and {r.data.tags["mlflow.parentRunId"] for r in runs} == {p.info.run_id for p in parents}
    cells = sorted(p.info.run_name for p in parents)
    assert RUN.rsplit("/", 1)[0] in cells and all(p.data.metrics["n"] == 1 for p in parents)  # the zoo's aggregate
    browser.get(f"{server}/#/experiments/{exp_id}/runs?{ml}")
    _wait_for_text(browser, "ablations", *cells, f"{len(names) + len(parents)} matching runs")
    _shot(browser, tmp_path / "ui_runs.png")

    run = next(r for r in runs if r.info.run_name == RUN)
    run_dir = root / "results" / "ablations" / "runs" / "embedded_ablation" / "small_cnn" / "label2label" / "base" / "clean" / "seed0"
    test_error = json.loads((run_dir / "metrics.json").read_text())["test"]["error"]
    assert run.data.metrics["test_error"] == test_error
    browser.get(f"{server}/#/experiments/{exp_id}/runs/{run.info.run_id}?{ml}")
    body = _wait_for_text(browser, run.info.run_name, "Parameters (", "model.mask_ratio", "test_error")
    assert f"model.mask_ratio\n{run.data.params['model.mask_ratio']}\n" in body
    assert f"train.epochs\n{EPOCHS}\n" in body
    assert f"test_error\n{test_error}" in body  # the run's own test metric, as in metrics.json
    model = RUN.replace("/", "-")  # its selected checkpoint as a logged model, named after the run
    body = _wait_for_text(browser, "Parent run", "Logged models", model)
    assert f"Parent run\n{RUN.rsplit('/', 1)[0]}\n" in body  # the run page names its cell
    assert "system/cpu_utilization_percentage" in run.data.metrics  # MLflow's system metrics
    heading = browser.find_element(By.XPATH, "//*[starts-with(normalize-space(text()), 'Parameters (')]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", heading)
    _shot(browser, tmp_path / "ui_run_params.png")

    browser.get(f"{server}/#/experiments/{exp_id}/runs/{run.info.run_id}/model-metrics?{ml}")
    search = WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "input[placeholder*='Search metric']"))[0]
    search.send_keys("val_error")
    _wait_for_text(browser, f"{run.info.run_name} (val_error)")

    def one_line_chart(d):
        plots = d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        lines = [p.get_attribute("d") for plot in plots for p in plot.find_elements(By.CSS_SELECTOR, "path.js-line")]
        return lines if len(plots) == 1 and lines and all(lines) else False

    lines = WebDriverWait(browser, TIMEOUT, poll_frequency=0.5).until(one_line_chart)
    assert lines[0].count("L") + 1 == EPOCHS  # one point per epoch (step = epoch)
    shot = _shot(browser, tmp_path / "ui_metric_chart.png")
    assert shot.stat().st_size > 10_000

    browser.get(f"{server}/#/experiments/{exp_id}/models?{ml}")  # the experiment's logged models, one per run
    models = [r.info.run_name.replace("/", "-") for r in runs]
    body = _wait_for_text(browser, "Model name", *models, *names)
    assert body.count("Ready") == len(runs)
    _shot(browser, tmp_path / "ui_models.png")


def _open(driver, path: Path) -> None:
    driver.get("about:blank")  # the report is one page: a new get of the same URL keeps its state
    driver.get(path.as_uri())


def _click(driver, by, value):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, TIMEOUT).until(EC.element_to_be_clickable((by, value))).click()
    except TimeoutException:
        raise AssertionError(f"{driver.current_url}: no clickable {value!r} after {TIMEOUT}s; page text:\n"
                             f"{_text(driver)[:3000]}") from None


def _text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _caption_of_item(driver, index: int) -> str:
    """Open the info panel of the index-th result of the shown list; return the DESCRIPTION it renders."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def icon_or_panel(d):
        return "DESCRIPTION" in _text(d) or d.find_elements(By.CSS_SELECTOR, "a[iconname='information-circle']")[index:index + 1]

    deadline = time.time() + TIMEOUT
    # a click that lands while the list is still being replaced opens nothing: find the icon again and retry
    while (found := WebDriverWait(driver, TIMEOUT).until(icon_or_panel)) is not True and time.time() < deadline:
        try:
            found[0].click()
        except StaleElementReferenceException:
            continue
        shown = time.time() + 5
        while "DESCRIPTION" not in _text(driver) and time.time() < shown:
            time.sleep(0.2)
    text = _text(driver)
    assert "DESCRIPTION" in text, text[:2000]
    return text.split("DESCRIPTION", 1)[1].strip().split("\n")[0]


def test_report_shows_the_reproduction_summary_and_every_table(suite, browser, tmp_path):
    from selenium.webdriver.common.by import By

    _, path, tables = suite
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


def test_reproduction_summary_covers_every_cell_of_the_suite(suite):
    import pandas as pd

    _, path, tables = suite
    summary = path.parent / "results" / "ablations" / "tables"
    cells = pd.read_csv(summary / "reproduction_summary.csv")
    shown = sum(int(pd.read_csv(summary / t / "table.csv")["shown"].sum()) for t in tables)
    assert len(cells) == shown and set(cells["table"]) == set(tables)
    assert (summary / "reproduction_summary.md").read_text().startswith("# Reproduction summary")


def test_report_first_page_shows_the_suite_that_ran(suite, browser, tmp_path):
    """Issue 20: the first page names the suite, its experiment, seeds and epochs read from the runs (it showed
    the default demo grid); a report whose options plan other seeds is refused in one line."""
    import copy

    from test_pipeline import _page

    root, path, _ = suite
    report = root / "report_seeds.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        res = _run(root, root / "config.yaml", "--report", str(report), "ablations", "--config", "seeds=[0]")
        assert res.returncode == 0 and "Missing metadata" not in res.stderr, res.stderr[-3000:]
        more = copy.deepcopy(yaml.safe_load((root / "config.yaml").read_text()))
        more["table_suites"]["ablations"]["seeds"] = [0, 1]
        (root / "more_seeds.yaml").write_text(yaml.safe_dump(more))
        refused = _run(root, root / "more_seeds.yaml", "--report", str(root / "refused.html"), "ablations")
    assert refused.returncode != 0 and "Missing metadata" not in refused.stderr and not (root / "refused.html").exists()
    assert "the options of this report do not match the runs on disk" in refused.stderr
    page = _page(report)
    for said in ("l2l: Label2Label benchmark, experiment ablations", "covers : suite ablations: table1, table2,",
                 "experiment : ablations", "seeds : 0 (3 runs)", f"epochs : {EPOCHS};", "protocol : clean"):
        assert said in page, (said, page)
    assert "embedded_demo" not in page
    _open(browser, report)
    shown = _wait_for_text(browser, "l2l: Label2Label benchmark, experiment ablations")
    assert "seeds: 0 (3 runs)" in shown and f"epochs: {EPOCHS};" in shown, shown[:2000]
    _shot(browser, tmp_path / "report_first_page.png")
