"""End-to-end: the real Snakemake pipeline on a tiny config, checked through its table and MLflow store.

One tiny default grid (3 methods x 2 seeds, 1 epoch) runs once for this file (the `grid` fixture); the
checks after the first read it: its report, and the report's first page (l2l/report/header.py, issue 20
item 5; issue 23 item 3: config strings reach the page as text, the unit half is tests/test_report_header.py).
"""

import base64
import html
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from helpers import list_runs

from helpers import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def _config(tmp_path, **extra):
    cfg = {
        "experiment": "tiny",
        "results_dir": str(tmp_path / "results"),
        "tracking_uri": f"sqlite:///{tmp_path}/results/mlflow.db",
        "datasets": {"tiny": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 24, "n_test": 32}}},
        "dataset": "tiny",
        "seeds": [0, 1],
        "model": {"ffn_dim": 32},
        "train": {"epochs": 1, "batch_size": 32},
        # logged models and system metrics: tests/test_tracking_cells.py and the browser test (long tier)
        "log_models": False, "system_metrics": False,
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(tmp_path, config, *args):
    return subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(config), *args],
                          capture_output=True, text=True, timeout=600)


# a second dataset in the options, not trained: a report asked for it is refused (test below)
OTHER = {"other": {"source": "embedded", "embedded": {"n_train": 64, "n_val": 24, "n_test": 32, "seed": 1}}}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """(root, config, result of the first `snakemake all`) of the tiny grid, run once for this file."""
    root = tmp_path_factory.mktemp("grid")
    config = _config(root)
    cfg = yaml.safe_load(config.read_text())
    cfg["datasets"].update(OTHER)
    config.write_text(yaml.safe_dump(cfg))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        res = _run(root, config, "--cores", "2", "all")
    return root, config, res


@pytest.mark.slow
def test_pipeline_end_to_end(grid, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tmp_path, config, res = grid
    assert res.returncode == 0, res.stderr[-3000:]
    exp = tmp_path / "results" / "tiny"
    table = pd.read_csv(exp / "table.csv")
    assert list(table["method"]) == ["fc_head", "aqn", "label2label"]
    assert list(table["n"]) == [2, 2, 2]
    assert table["error_mean"].between(0, 100).all()
    assert "± " in (exp / "table.md").read_text()
    assert (exp / "error.png").stat().st_size > 1000
    for log in (exp / "logs" / "train").rglob("*.log"):
        assert "test error" in log.read_text()

    runs = list_runs(f"sqlite:///{tmp_path}/results/mlflow.db", "tiny")
    assert len(runs) == 6
    assert all(r.info.status == "FINISHED" for r in runs)
    names = sorted(r.info.run_name for r in runs)
    assert names[0] == "tiny/aqn/small_cnn/base/clean/seed0"
    assert {r.data.tags["wildcard.method"] for r in runs} == {"fc_head", "aqn", "label2label"}
    assert all("test_error" in r.data.metrics for r in runs)

    again = _run(tmp_path, config, "--cores", "2", "all")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr

    _check_report(tmp_path, config, table)


def _embedded(report_html, filename):
    """Decode a result that ``snakemake --report`` embedded in the HTML as a base64 data URI."""
    match = re.search(rf"filename={re.escape(filename)};base64,([A-Za-z0-9+/=]+)", report_html)
    assert match, f"{filename} is not in the report"
    return base64.b64decode(match.group(1))


def _check_report(tmp_path, config, table):
    res = _run(tmp_path, config, "--report", "results/report.html")
    assert res.returncode == 0, res.stderr[-3000:]
    report = (tmp_path / "results" / "report.html").read_text()
    assert "l2l: Label2Label benchmark, experiment tiny" in report  # workflow description, rendered
    assert "fc_head, aqn, label2label" in report  # captions say what was run
    summary = _embedded(report, "table.html").decode()
    for method, err in zip(table["method"], table["error_mean"]):
        assert re.search(rf"<td>{method}</td>.*?<td>{err:.2f} ± ", summary, re.S), method
    runs = _embedded(report, "runs.html").decode()
    assert runs.count("<tr>") == 6  # one body row per run (the header row has a style)
    assert _embedded(report, "error.png").startswith(b"\x89PNG")
    assert b"error_mean" in _embedded(report, "table.csv")


@pytest.mark.parametrize("bad, message", [
    ({"methods": ["fc_head", "mlp"]}, "config: key methods.1 must be one of fc_head, aqn, label2label"),
    ({"model": {"mask_ratio": 1.5}}, "config: key model.mask_ratio must be <= 1, got 1.5"),
    ({"anchors": "bomb"}, "config: expands to more than"),
])
def test_invalid_config_fails_before_any_job(tmp_path, bad, message):
    config = _config(tmp_path, **bad)
    if "anchors" in bad:  # a 339-byte YAML anchor bomb (9**9 values) must not hang Snakemake
        lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
        lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
        config.write_text("\n".join(lines + ["experiment: *i"]) + "\n")
    res = _run(tmp_path, config, "--cores", "1", "-n")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert message in out, out[-2000:]
    assert not (tmp_path / "results").exists()


def test_config_values_from_the_command_line_are_coerced(tmp_path):
    """The README's `--config seeds='[0,1,2,3,4]'`: Snakemake passes strings; the schema's types win."""
    res = _run(tmp_path, _config(tmp_path), "-n", "all", "--config", "seeds=[0,1,2,3,4]", "protocol=official")
    assert res.returncode == 0, res.stderr[-2000:]
    assert re.search(r"^train\s+15$", res.stdout, re.M), res.stdout[-2000:]
    assert "/base/official/seed4/metrics.json" in res.stdout


def test_shell_syntax_in_config_values_runs_nothing(tmp_path, monkeypatch):
    """Every value reaching a shell is quoted: a tracking URI with `; touch` runs nothing, and a
    results_dir with a space holds its outputs and logs (issue 13, item 2)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    marker = tmp_path / "marker"
    uri = f"nowhere --help; touch {marker}; true"  # unquoted, `--help` exits 0 and `touch` would run
    config = _config(tmp_path, results_dir=str(tmp_path / "my results"), tracking_uri=uri)
    results = tmp_path / "my results"
    # one invocation: the tracking job fails (the URI is taken whole, as a value), the dataset job runs
    _run(tmp_path, config, "--cores", "1", "--keep-going", f"{results}/tiny/mlflow_experiment.json",
         f"{results}/datasets/tiny/meta.yaml")
    assert not marker.exists()
    assert "embedded dataset written" in (results / "datasets" / "logs" / "tiny.log").read_text()
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "results").exists()  # no stray outputs


def test_lint_is_clean():
    res = subprocess.run([*SNAKEMAKE, "--lint"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert "Congratulations, your workflow is in a good condition" in res.stdout + res.stderr


def test_only_the_heavy_rules_leave_the_submitting_machine():
    """On a cluster every rule but those in `localrules:` becomes a job of its own (a SLURM job): that must be
    the rules that decode or train, and nothing short (a table, the tracking set-up, a download)."""
    rules, local = set(), set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        rules |= set(re.findall(r"^rule (\w+):", text, re.M))
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", text, re.M):
            local |= set(re.findall(r"\w+", block))
        local |= {name for name, body in re.findall(r"^rule (\w+):\n((?:[ \t].*\n|\n)+)", text, re.M)
                  if re.search(r"^\s+localrule: True", body, re.M)}
    assert local <= rules, local - rules
    assert rules - local == {"prepare_dataset", "cache_dataset", "train"}


# ---- the report's first page of the grid (issue 20 item 5, issue 23 item 3) ----
def _page(report) -> str:
    """The report's first page (Snakemake's `workflow_desc`), as the text a reader sees."""
    found = re.search(r"var workflow_desc = (\".*?\");\n", report.read_text())
    assert found, "no workflow description in the report"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", json.loads(found.group(1)))).split())


def _options(grid, name: str, **change):
    """The grid's config file with ``change`` applied, written as ``name``."""
    root, config, _ = grid
    cfg = {**yaml.safe_load(config.read_text()), **change}
    path = root / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_the_report_shows_the_runs_that_ran(grid, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, config, first = grid
    assert first.returncode == 0, first.stderr[-3000:]
    res = _run(root, config, "--report", str(root / "report.html"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Missing metadata" not in res.stderr
    page = _page(root / "report.html")
    for said in ("l2l: Label2Label benchmark, experiment tiny", "covers : the default grid (target all )",
                 "experiment : tiny (runs in", "datasets : tiny", "methods : aqn, fc_head, label2label",
                 "seeds : 0, 1 (6 runs)", "epochs : 1;", "batch size : 32", "protocol : clean", "device used : cpu"):
        assert said in page, (said, page)
    assert "embedded_demo" not in page and "0, 1, 2" not in page, page


@pytest.mark.slow
@pytest.mark.parametrize("change, said", [
    ({"seeds": [0, 1, 2]}, "has no finished run"),  # options plan more seeds than ran
    ({"dataset": "other"}, "holds 6 runs of dataset tiny"),  # another dataset: the table is tiny's
    ({"train": {"epochs": 2, "batch_size": 32}}, "was trained with train.epochs=1 (options: 2)"),
])
def test_a_report_with_other_options_is_refused_in_one_line(grid, change, said, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, _, first = grid
    assert first.returncode == 0, first.stderr[-3000:]
    res = _run(root, _options(grid, "other.yaml", **change), "--report", str(root / "refused.html"))
    assert res.returncode != 0, res.stderr[-3000:]
    assert "Missing metadata" not in res.stderr and not (root / "refused.html").exists()
    line = next(x for x in res.stderr.splitlines() if "snakemake --report:" in x)
    assert "the options of this report do not match the runs on disk" in line and said in line, line


@pytest.mark.slow
def test_config_strings_reach_the_report_as_text(grid, tmp_path, monkeypatch):
    """The attack in a run's tracking URI and in the report's own tracking_uri (its config file): text, not markup.

    Before the fix the report had `<img src=x onerror="alert(1)">` and the file's content in its first page."""
    from test_report_header import SECRET, _attack

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root, _, first = grid
    assert first.returncode == 0, first.stderr[-3000:]
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    attack = _attack(secret_file)
    run = sorted((root / "results" / "tiny" / "runs").rglob("config.yaml"))[0]
    saved = run.read_text()
    cfg = yaml.safe_load(saved)
    cfg["tracking"]["uri"] = attack
    run.write_text(yaml.safe_dump(cfg))
    options = _options(grid, "attack.yaml", tracking_uri=attack)  # --config drops line breaks
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
