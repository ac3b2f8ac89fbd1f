"""The Snakemake report's first page says what ran, read from the runs, and renders config values as text.

Issue 20 item 5: after a one-seed, one-epoch `ablations` suite, `snakemake --report FILE ablations` opens
with that suite, its experiment, seeds and epochs (it showed the demo grid from the default config), and
a report whose options plan other runs than those on disk is refused in one line (it printed 18 "Missing
metadata" warnings and a table of another dataset).
Issue 23 item 3: a config string carrying `` ` `` + `.. raw:: html <img onerror=...>` + `.. include::
<file>` is shown as text: no <img onerror> and no content of the file in the report.
"""

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


def test_captions_render_only_config_values_the_schema_constrains():
    """Free-text config values (tracking_uri, results_dir, paths, URLs) reach the report only through
    l2l.report.header (escaped); captions may show names, enums and numbers only."""
    constrained = {"methods", "dataset", "backbones", "seeds", "experiment", "train"}  # patterns, enums, integers
    for caption in (REPO / "workflow/report").glob("*.rst"):
        keys = set(re.findall(r"snakemake\.config\[\"([^\"]+)\"\]", caption.read_text()))
        assert keys <= constrained | {"_l2l_report"}, (caption.name, keys - constrained)
        train = re.findall(r"snakemake\.config\[\"train\"\]\[\"([^\"]+)\"\]", caption.read_text())
        assert set(train) <= {"epochs"}, (caption.name, train)


def test_report_mode():
    assert report_mode(["snakemake", "--report", "r.html", "ablations"])
    assert report_mode(["snakemake", "--report=r.html"])
    assert not report_mode(["snakemake", "--cores", "2", "report.html"])


# ---- the real pipeline: a tiny default grid, one seed, one epoch (the suite's page: tests/test_browser.py) ------
GRID = {
    "experiment": "tiny",
    "datasets": {"tiny": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 24, "n_test": 32}},
                 "other": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 24, "n_test": 32, "seed": 1}}},
    "dataset": "tiny",
    "seeds": [0],
    "model": {"ffn_dim": 32},
    "train": {"epochs": 1, "batch_size": 32},
    "data": {"cache": False},
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
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    base = {"results_dir": str(root / "results"), "tracking_uri": f"sqlite:///{root}/results/mlflow.db"}
    config = _write(root / "config.yaml", {**base, **GRID})
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        res = _run(root, config, "--cores", "2", "all")
    assert res.returncode == 0, res.stderr[-3000:]
    return root, config, base


@pytest.mark.slow
def test_the_report_shows_the_runs_that_ran(grid, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, config, _ = grid
    res = _run(root, config, "--report", str(root / "report.html"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Missing metadata" not in res.stderr
    page = _page(root / "report.html")
    for said in ("l2l: Label2Label benchmark, experiment tiny", "covers : the default grid (target all )", "experiment : tiny (runs in",
                 "datasets : tiny", "methods : aqn, fc_head, label2label", "seeds : 0 (3 runs)", "epochs : 1;",
                 "batch size : 32", "protocol : clean", "device used : cpu"):
        assert said in page, (said, page)
    assert "embedded_demo" not in page and "0, 1, 2" not in page, page


@pytest.mark.slow
@pytest.mark.parametrize("change, said", [
    ({"seeds": [0, 1]}, "has no finished run"),  # options plan more seeds than ran
    ({"seeds": [0], "dataset": "other"}, "holds 3 runs of dataset tiny"),  # another dataset: the table is tiny's
    ({"train": {"epochs": 2, "batch_size": 32}}, "was trained with train.epochs=1 (options: 2)"),
])
def test_a_report_with_other_options_is_refused_in_one_line(grid, change, said, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, _, base = grid
    other = _write(root / "other.yaml", {**base, **GRID, **change})
    res = _run(root, other, "--report", str(root / "refused.html"))
    assert res.returncode != 0, res.stderr[-3000:]
    assert "Missing metadata" not in res.stderr and not (root / "refused.html").exists()
    line = next(x for x in res.stderr.splitlines() if "snakemake --report:" in x)
    assert "the options of this report do not match the runs on disk" in line and said in line, line


@pytest.mark.slow
def test_config_strings_reach_the_report_as_text(grid, secret_file, monkeypatch):
    """The attack in a run's tracking URI and in the report's own tracking_uri (its config file): text, not markup.

    Before the fix the report had `<img src=x onerror="alert(1)">` and the file's content in its first page."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, config, base = grid
    attack = _attack(secret_file)
    run = sorted((root / "results" / "tiny" / "runs").rglob("config.yaml"))[0]
    saved = run.read_text()
    cfg = yaml.safe_load(saved)
    cfg["tracking"]["uri"] = attack
    run.write_text(yaml.safe_dump(cfg))
    options = _write(root / "attack.yaml", {**base, **GRID, "tracking_uri": attack})  # --config drops line breaks
    try:
        res = _run(root, options, "--report", str(root / "attack.html"))
    finally:
        run.write_text(saved)
    assert res.returncode == 0, res.stderr[-3000:]
    text = (root / "attack.html").read_text()
    desc = json.loads(re.search(r"var workflow_desc = (\".*?\");\n", text).group(1))
    assert "<img" not in desc and "System Message" not in desc
    assert "<img src=x onerror" not in text and "\\u003cimg" not in text and SECRET not in text
    assert " ".join(attack.split()) in _page(root / "attack.html")  # shown as written, no escape left visible
