"""Every run-folder path that the docs and `l2l COMMAND --help` give as an example has the layout the pipeline
writes (issue 20: `l2l train --help`, `l2l predict --help` and config/paper_datasets.yaml lacked the
`<protocol>` folder, so the copied command failed)."""

import functools
import re
from pathlib import Path

import pytest

from l2l.cli import build_parser
from l2l.plan import RUN_PATH

REPO = Path(__file__).resolve().parents[1]
PATH = re.compile(r"results/[A-Za-z0-9_.<>*-]+/runs/[^\s`'\")]*")
PART = r"(?:[A-Za-z0-9_.,=-]+|<[a-z]+>|\*)"  # a value, a <placeholder> or a glob
LAYOUT = re.compile("results/" + PART + "/runs/" + RUN_PATH.replace("seed{seed}", r"seed(?:\d+|<N>|\*)").replace(
    "{protocol}", r"(?:clean|official|<protocol>|\*)").replace("{dataset}", PART).replace("{backbone}", PART).replace(
    "{method}", PART).replace("{variant}", PART) + r"(?:/[A-Za-z0-9_.]*)?")


def _help_texts() -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    return {f"l2l {name} --help": p.format_help() for name, p in sub.choices.items()}


@functools.cache
def _documents() -> dict[str, str]:
    files = [REPO / "README.md", REPO / "config/README.md", *REPO.glob("docs/*.md"), *REPO.glob("config/*.yaml")]
    return {str(f.relative_to(REPO)): f.read_text() for f in files} | _help_texts()


def test_the_layout_pattern_tells_a_good_path_from_a_bad_one():
    assert LAYOUT.fullmatch("results/embedded_demo/runs/embedded/small_cnn/aqn/base/clean/seed0/metrics.json")
    assert not LAYOUT.fullmatch("results/embedded_demo/runs/embedded/small_cnn/aqn/base/seed0/metrics.json")


@pytest.mark.parametrize("where", sorted(_documents()))
def test_example_run_paths_have_the_protocol_folder(where):
    bad = [p for p in PATH.findall(_documents()[where]) if not LAYOUT.fullmatch(p.rstrip(".,;:"))]
    assert not bad, f"{where}: run paths without the pipeline's layout ({RUN_PATH}): {bad}"
