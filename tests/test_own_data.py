"""The README's own-data route end to end (issue 20 item 6): `snakemake all --configfile my.yaml` with the
README's three lines (no experiment) writes its runs, table and MLflow runs under the experiment `mine`,
and leaves an existing results/embedded_demo/ and the MLflow experiment embedded_demo untouched."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from l2l.data.standins import make_csv
from helpers import list_runs

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_own_data_route_leaves_the_demo_untouched(tmp_path):
    make_csv(tmp_path / "data" / "mine")
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(  # README.md, "Datasets": three lines of my.yaml
        {"datasets": {"mine": {"source": "csv", "path": "data/mine"}}, "dataset": "mine",
         "data": {"image_size": [64, 64]}}))
    demo = tmp_path / "results" / "embedded_demo"
    demo.mkdir(parents=True)
    (demo / "table.md").write_text("the demo's table\n")
    before = {p: p.stat().st_mtime_ns for p in demo.rglob("*")}
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "--cores", "2", "all", "--configfile", "my.yaml",
                          "--config", "seeds=[0]", "methods=[fc_head]",  # one run keeps the test short
                          "log_models=false", "system_metrics=false"],  # tests/test_tracking_cells.py has those
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in demo.rglob("*")} == before  # nothing added or rewritten
    assert (demo / "table.md").read_text() == "the demo's table\n"
    assert "| mine | small_cnn | fc_head | 1 |" in (tmp_path / "results" / "mine" / "table.md").read_text()
    assert (tmp_path / "results" / "mine" / "runs" / "mine" / "small_cnn" / "fc_head" / "base" / "clean"
            / "seed0" / "metrics.json").is_file()
    uri = f"sqlite:///{tmp_path}/results/mlflow.db"
    assert len(list_runs(uri, "mine")) == 1
    assert list_runs(uri, "embedded_demo") == []
