"""The Snakemake report's first page says what ran, read from the runs, and renders config values as text.
The unit half; the checks on a real pipeline's report are in tests/test_pipeline.py (they share its grid).

Issue 20 item 5: after a one-seed, one-epoch `ablations` suite, `snakemake --report FILE ablations` opens
with that suite, its experiment, seeds and epochs (it showed the demo grid from the default config), and
a report whose options plan other runs than those on disk is refused in one line (it printed 18 "Missing
metadata" warnings and a table of another dataset).
Issue 23 item 3: a config string carrying `` ` `` + `.. raw:: html <img onerror=...>` + `.. include::
<file>` is shown as text: no <img onerror> and no content of the file in the report.
"""

import html
import re
from pathlib import Path

import pytest
from docutils.core import publish_parts

from l2l.report.header import report_mode, rst_text

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
