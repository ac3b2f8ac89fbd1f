"""The dataset rules of the real Snakemake workflow: the download + prepare rules run for real on fixture
copies of each format (one served over local HTTP). What the rules are given (recipes, cache files,
prepare arguments) is planned in l2l.plan and tested in tests/test_plan.py, without Snakemake."""

import csv
import hashlib
import re
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from realformats import make_clothing, make_csv, make_lfwa, make_pa100k

from helpers import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
RUN = "results/embedded_demo/runs/{}/resnet50/label2label/base/clean/seed0/metrics.json"


def _snakemake(workdir, *args, config=None):
    cmd = [*SNAKEMAKE, "--directory", str(workdir), *(["--configfile", str(config)] if config else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def _fixture_config(tmp_path, **datasets):
    path = tmp_path / "fixtures.yaml"
    path.write_text(yaml.safe_dump({"datasets": datasets}))
    return path


# one dataset suffices here: the other recipes' cache files and prepare arguments are planned in
# tests/test_plan.py, and every preparer runs for real in test_download_and_prepare_rules_run_for_real
@pytest.mark.parametrize("dataset, expected", [
    ("lfwa", {"prepare_dataset": 1, "cache_dataset": 3, "init_tracking": 1, "train": 1, "fetch_weights": 1}),
])
def test_dry_run_with_local_fixture_sources(tmp_path, dataset, expected):
    make_lfwa(tmp_path / "src" / "lfwa")
    make_pa100k(tmp_path / "src" / "pa")
    make_clothing(tmp_path / "src" / "clothing", n=12)
    config = _fixture_config(tmp_path, lfwa={"path": "src/lfwa"}, pa100k={"path": "src/pa"},
                             clothing={"url": None, "path": "src/clothing", "train_size": 8})
    res = _snakemake(tmp_path, "-n", RUN.format(dataset), config=config)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _job_counts(res.stdout) == expected
    assert re.search(r"rule prepare_dataset:\n\s+input: src/", res.stdout)  # the local source is an input
    # prepared once: the dry run then only lists the train job
    assert _snakemake(tmp_path, "--cores", "1", f"results/datasets/{dataset}/meta.yaml", config=config).returncode == 0
    again = _snakemake(tmp_path, "-n", RUN.format(dataset), config=config)
    caches = expected["cache_dataset"]
    assert _job_counts(again.stdout) == {"cache_dataset": caches, "init_tracking": 1, "train": 1, "fetch_weights": 1}


@pytest.fixture
def http_folder(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_download_and_prepare_rules_run_for_real(tmp_path, http_folder):
    served, base = http_folder
    src = tmp_path / "src"
    lfwa, pa, mine = make_lfwa(src / "lfwa"), make_pa100k(src / "pa"), make_csv(src / "mine")
    clothing = make_clothing(tmp_path / "ClothingAttributeDataset", n=12, spelling=1)
    archive = Path(shutil.make_archive(str(served / "ClothingAttributeDataset"), "zip", tmp_path,
                                       "ClothingAttributeDataset"))
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    config = _fixture_config(
        tmp_path, lfwa={"path": "src/lfwa", "val_fraction": 0.0}, pa100k={"path": "src/pa"},
        clothing={"url": f"{base}/ClothingAttributeDataset.zip", "sha256": sha, "train_size": 8},
        mine={"source": "csv", "path": "src/mine"})
    targets = [f"results/datasets/{d}/meta.yaml" for d in ("lfwa", "pa100k", "clothing", "mine")]
    res = _snakemake(tmp_path, "--cores", "1", *targets, config=config)
    assert res.returncode == 0, res.stderr[-3000:]
    ds = tmp_path / "results" / "datasets"

    for name, exp in (("lfwa", lfwa), ("pa100k", pa)):
        rows = _rows(ds / name / "labels.csv")[1:]
        assert rows == [[img, split, *map(str, labels)] for img, split, labels in exp["rows"]]
    rows = _rows(ds / "mine" / "labels.csv")[1:]
    assert rows == [[f"source/{r[0]}", *r[1:]] for r in mine["rows"]]
    header, *rows = _rows(ds / "clothing" / "labels.csv")
    for i, row in enumerate(rows):
        assert row[0] == f"source/ClothingAttributeDataset/images/{i + 1:06d}.jpg"
        assert row[2:] == ["" if clothing["labels"][a][i] is None else str(clothing["labels"][a][i]) for a in header[2:]]

    meta = yaml.safe_load((ds / "clothing" / "meta.yaml").read_text())
    assert meta["source"]["url"] == f"{base}/ClothingAttributeDataset.zip"
    assert meta["source"]["archive_sha256"] == sha
    assert (tmp_path / "results" / "downloads" / "clothing" / "ClothingAttributeDataset.zip").read_bytes() == archive.read_bytes()
    assert yaml.safe_load((ds / "mine" / "meta.yaml").read_text())["name"] == "mine"
    assert "sha256 " + sha + ", verified" in (tmp_path / "results/downloads/logs/clothing/ClothingAttributeDataset.zip.log").read_text()


def test_missing_manual_source_stops_with_instructions(tmp_path):
    res = _snakemake(tmp_path, "--cores", "1", "results/datasets/pa100k/meta.yaml")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "data/PA-100K does not exist" in out and "HydraPlus-Net" in out and "annotation.mat" in out
    assert not (tmp_path / "results" / "datasets" / "pa100k" / "meta.yaml").exists()
