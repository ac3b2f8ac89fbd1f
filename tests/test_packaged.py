"""The config schema and the default experiment config ship inside the package (l2l/defaults/, read
through importlib.resources); the workflow's copies equal them; l2l reads no file of the checkout
around it, so `pip install .` (not editable) gives an l2l that validates and resolves configs."""

import json
import re
import tomllib
from pathlib import Path

import pytest

from l2l import packaged
from l2l.cli import main

from helpers import REPO


@pytest.mark.parametrize("name, copy", sorted(packaged.COPIES.items()))
def test_the_workflows_copy_equals_the_packaged_file(name, copy):
    assert (REPO / copy).read_text() == packaged.text(name), (
        f"{copy} differs from l2l/defaults/{name}: edit l2l/defaults/{name} (the one declaration), then "
        f"`python -m l2l.packaged .` rewrites the copy")


def test_the_package_data_is_declared_and_the_package_reads_nothing_around_it():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["l2l"]
    assert all(any(Path("defaults", name).match(g) for g in globs) for name in packaged.COPIES)
    above = re.compile(r"__file__\)(\.resolve\(\))?\.(parents\[|parent\.parent)")  # a path out of the package
    hits = [f"{p.relative_to(REPO)}:{i}" for p in (REPO / "l2l").rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if above.search(line)]
    assert hits == [], f"l2l reads files of the checkout around it: {hits}"


def test_write_copies_rewrites_a_stale_copy(tmp_path):
    assert {p.relative_to(tmp_path).as_posix() for p in packaged.write_copies(tmp_path)} == set(packaged.COPIES.values())
    (tmp_path / "config/config.yaml").write_text("seeds: [7]\n")
    assert packaged.write_copies(tmp_path) == [tmp_path / "config/config.yaml"]
    assert packaged.write_copies(tmp_path) == []


def test_resolve_from_an_empty_folder_uses_the_packaged_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["resolve", "--dataset", "embedded", "--method", "aqn"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["method"] == "aqn" and cfg["data"]["path"] == "results/datasets/embedded"
    (tmp_path / "wf/config").mkdir(parents=True)
    packaged.write_copies(tmp_path / "wf")
    wf_config = tmp_path / "wf/config/config.yaml"
    wf_config.write_text(wf_config.read_text().replace("\nresults_dir: results\n", "\nresults_dir: elsewhere\n"))
    assert main(["resolve", "--dataset", "embedded", "--workflow-dir", "wf"]) == 0
    assert json.loads(capsys.readouterr().out)["data"]["path"] == "elsewhere/datasets/embedded"
