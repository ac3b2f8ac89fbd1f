"""The MLflow UI, checked in a real headless browser against the store a tiny pipeline produced.

Runs the real Snakemake pipeline, starts ``mlflow ui`` on 127.0.0.1 (a free port) against its sqlite
store, opens it in headless Chromium through Selenium + chromedriver, and checks what a person looks
for: the experiment, every run by name, a run's params and metrics, and a metric chart with one point
per epoch. Screenshots land in the test's tmp dir (their paths are printed; run with ``-s`` to see them).
Skipped only where no Chromium/chromedriver is installed (``.ci/run`` installs Debian's).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from l2l.tracking import list_runs
from test_pipeline import _config, _run

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
EPOCHS = 3
TIMEOUT = 180  # seconds for the server to start and for each page to render, on a loaded 2-core machine

BROWSER_TEST = [  # also the marks of tests/test_report_browser.py
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="no Chromium/chromedriver installed (Debian: apt-get install chromium "
                              "chromium-driver; .ci/run installs them)"),
]
pytestmark = BROWSER_TEST


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_answers(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow ui exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"mlflow ui did not answer {url} in {TIMEOUT}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the server's whole process group (uvicorn and its workers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def pipeline(tmp_path, monkeypatch):
    """A tiny real pipeline: 2 methods x 2 seeds, EPOCHS epochs each."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = _config(tmp_path, experiment="ui_check", methods=["fc_head", "label2label"],
                     train={"epochs": EPOCHS, "batch_size": 32})
    res = _run(tmp_path, config, "--cores", "2", "all")
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp_path


@pytest.fixture
def server(pipeline):
    port = _free_port()
    db = pipeline / "results" / "mlflow.db"
    log = pipeline / "mlflow_ui.log"
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow) if mlflow.exists() else "mlflow", "ui", "--backend-store-uri", f"sqlite:///{db}",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=pipeline, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        _wait_until_answers(f"http://127.0.0.1:{port}/health", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


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


def test_mlflow_ui_shows_experiment_runs_params_and_metric_chart(pipeline, server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    runs = list_runs(f"sqlite:///{pipeline}/results/mlflow.db", "ui_check")
    assert len(runs) == 4
    exp_id = runs[0].info.experiment_id
    names = sorted(r.info.run_name for r in runs)
    assert names[0] == "tiny/fc_head/small_cnn/base/clean/seed0"  # dataset/method/backbone/variant/protocol/seedN
    ml = "workflowType=machine_learning"  # the "Model training" view (MLflow 3 opens on GenAI)

    browser.get(f"{server}/#/experiments?{ml}")
    _wait_for_text(browser, "ui_check")
    _shot(browser, tmp_path / "ui_experiments.png")

    browser.get(f"{server}/#/experiments/{exp_id}/runs?{ml}")
    _wait_for_text(browser, "ui_check", *names, f"{len(names)} matching runs")
    _shot(browser, tmp_path / "ui_runs.png")

    run = next(r for r in runs if r.info.run_name == "tiny/label2label/small_cnn/base/clean/seed1")
    run_dir = pipeline / "results" / "ui_check" / "runs" / "tiny" / "small_cnn" / "label2label" / "base" / "clean" / "seed1"
    test_error = json.loads((run_dir / "metrics.json").read_text())["test"]["error"]
    assert run.data.metrics["test_error"] == test_error
    browser.get(f"{server}/#/experiments/{exp_id}/runs/{run.info.run_id}?{ml}")
    body = _wait_for_text(browser, run.info.run_name, "Parameters (", "model.mask_ratio", "test_error")
    assert f"model.mask_ratio\n{run.data.params['model.mask_ratio']}\n" in body
    assert f"train.epochs\n{EPOCHS}\n" in body
    assert f"test_error\n{test_error}" in body  # the run's own test metric, as in metrics.json
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
