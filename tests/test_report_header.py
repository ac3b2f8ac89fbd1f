"""The Snakemake report's first page says what ran, read from the runs, and renders config values as text.

Issue 20 item 5: after a one-seed, one-epoch `ablations` suite, `snakemake --report FILE ablations` opens
with that suite, its experiment, seeds and epochs (it showed the demo grid from the default config), and
a report whose options plan other runs than those on disk is refused in one line (it printed 18 "Missing
metadata" warnings and a table of another dataset).
Issue 23 item 3: a config string carrying `` ` `` + `.. raw:: html <img onerror=...>` + `.. include::
<file>` is shown as text: no <img onerror> and no content of the file in the report.
"""

import copy
import html
import json
import re
from pathlib import Path

import pytest
import yaml
from docutils.core import publish_parts

from l2l.report.header import report_mode, rst_text
from test_pipeline import _run

REPO = Path(__file__).resolve().parents[1]
SECRET = "l2l-secret-7f3a9c"  # content of the file the attack includes


def _attack(secret_file: Path) -> str:
    return (f"sqlite:///x.db`` \n\n.. raw:: html\n\n   <img src=x onerror=\"alert(1)\">\n\n"
            f".. include:: {secret_file}\n\n")


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n")
    return path


def _old_page(value: str) -> str:  # how workflow.rst used to put tracking_uri into the page
    return f"one MLflow run (tracking URI ``{value}``); rule ``aggregate`` turns ..."


def test_the_attack_runs_when_the_value_is_not_escaped(secret_file):
    """The fault as reported: docutils' defaults render the raw HTML and include the file."""
    body = publish_parts(_old_page(_attack(secret_file)), writer="html")["html_body"]
    assert "<img src=x onerror" in body and SECRET in body


def test_an_escaped_value_renders_as_its_own_text(secret_file):
    attack = _attack(secret_file)
    body = publish_parts(f"tracking URI {rst_text(attack)}, more text", writer="html")["html_body"]
    assert "<img" not in body and SECRET not in body and "System Message" not in body
    text = html.unescape(re.sub(r"<[^>]+>", "", body))
    assert " ".join(attack.split()) in " ".join(text.split())  # shown as written (line breaks as spaces)
    for value in ("a_b_", "*x*", "|s|", "[1]_", ":raw:`x`", "javascript:alert(1)", "\\`x`", "x\\"):
        body = publish_parts(rst_text(value), writer="html")["html_body"]
        assert html.unescape(re.sub(r"<[^>]+>", "", body)).strip() == value and "href" not in body, (value, body)


def test_the_report_docutils_config_turns_off_raw_and_include(secret_file, monkeypatch):
    """Defense in depth: in report mode the Snakefile points DOCUTILSCONFIG at this file."""
    monkeypatch.setenv("DOCUTILSCONFIG", str(REPO / "workflow/report/docutils.conf"))
    body = publish_parts(_old_page(_attack(secret_file)), writer="html")["html_body"]
    assert "<img" not in body and SECRET not in body


def test_report_mode():
    assert report_mode(["snakemake", "--report", "r.html", "ablations"])
    assert report_mode(["snakemake", "--report=r.html"])
    assert not report_mode(["snakemake", "--cores", "2", "report.html"])


# ---- the real pipeline: a tiny ablations suite, one seed, one epoch ----------------------------------------
EPOCHS = 1
SUITE = {
    "datasets": {"embedded_ablation": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 24, "n_test": 32}}},
    "recipes": {"embedded_ablation": {"train": {"epochs": EPOCHS, "batch_size": 32}}},
    "model": {"ffn_dim": 32},
    "data": {"cache": False},
    "table_suites": {"ablations": {"seeds": [0], "backbones": {"resnet101": None}, "attention": {"samples": [0]}}},
    "tables": {"table1": {"param": {"values": [2]}}, "table2": {"param": {"values": [1]}},
               "table3": {"param": {"values": [0.1]}}, "table4": {"param": {"values": [1.0]}},
               "table6": {"param": {"values": ["attribute_specific"]}},
               "table7": {"methods": ["aqn", "label2label"], "compare": [["label2label", "aqn"]]}},
}


def _write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def _page(report: Path) -> str:
    """The report's first page (Snakemake's `workflow_desc`), as the text a reader sees."""
    found = re.search(r"var workflow_desc = (\".*?\");\n", report.read_text())
    assert found, "no workflow description in the report"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", json.loads(found.group(1)))).split())


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    base = {"results_dir": str(root / "results"), "tracking_uri": f"sqlite:///{root}/results/mlflow.db"}
    config = _write(root / "config.yaml", {**base, **SUITE})
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        res = _run(root, config, "--cores", "2", "ablations")
    assert res.returncode == 0, res.stderr[-3000:]
    return root, config, base


@pytest.mark.slow
def test_the_report_of_a_suite_shows_the_suite_that_ran(suite, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, config, _ = suite
    res = _run(root, config, "--report", str(root / "report.html"), "ablations", "--config", "seeds=[0]")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Missing metadata" not in res.stderr
    page = _page(root / "report.html")
    for said in ("l2l report, experiment ablations", "covers: suite ablations: table1, table2,",
                 "experiment: ablations", "datasets: embedded_ablation", "seeds: 0 (3 runs)",
                 f"epochs: {EPOCHS};", "protocol: clean", "device used: cpu"):
        assert said in page, (said, page)
    assert "embedded_demo" not in page and "0, 1, 2" not in page, page


@pytest.mark.slow
def test_a_report_with_other_options_is_refused_in_one_line(suite, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, _, _ = suite
    more_seeds = copy.deepcopy(SUITE)
    more_seeds["table_suites"]["ablations"]["seeds"] = [0, 1]
    other = _write(root / "other.yaml", {**suite[2], **more_seeds})
    for target in ("ablations", "all"):  # other seeds; a bare report of the demo grid that never ran
        args = ["--report", str(root / f"refused_{target}.html")] + ([target] if target != "all" else [])
        res = _run(root, other, *args)
        assert res.returncode != 0, res.stderr[-3000:]
        assert "Missing metadata" not in res.stderr and not (root / f"refused_{target}.html").exists()
        line = next(x for x in res.stderr.splitlines() if "snakemake --report:" in x)
        assert "the options of this report do not match the runs on disk" in line and "has no finished run" in line


@pytest.mark.slow
def test_config_strings_reach_the_report_as_text(suite, secret_file, monkeypatch):
    """The attack in the runs' tracking URI and in the report's own tracking_uri option: text, not markup."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, config, base = suite
    attack = _attack(secret_file)
    runs = sorted((root / "results" / "ablations" / "runs").rglob("config.yaml"))
    saved = runs[0].read_text()
    cfg = yaml.safe_load(saved)
    cfg["tracking"]["uri"] = attack
    runs[0].write_text(yaml.safe_dump(cfg))
    try:
        res = _run(root, config, "--report", str(root / "attack.html"), "ablations",
                   "--config", f"tracking_uri={json.dumps(attack)}", f"results_dir={json.dumps(base['results_dir'])}")
    finally:
        runs[0].write_text(saved)
    assert res.returncode == 0, res.stderr[-3000:]
    text = (root / "attack.html").read_text()
    desc = json.loads(re.search(r"var workflow_desc = (\".*?\");\n", text).group(1))
    assert "<img" not in desc and "System Message" not in desc
    assert "<img src=x onerror" not in text and "\\u003cimg" not in text and SECRET not in text
    assert " ".join(attack.split()) in _page(root / "attack.html")  # shown as written, no escape left visible
