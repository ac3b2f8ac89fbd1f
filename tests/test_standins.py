"""The rehearsal's stand-in datasets (l2l.data.standins) are what the real preparers read, with the
arguments the workflow's prepare rule gets under rehearsal=true (issue 20 item 4)."""

import csv

import pytest

from l2l.cli import main
from l2l.plan import datasets
from l2l.plan.experiment import load_experiment

# train/val/test rows of each prepared stand-in under the paper suite's settings (LFWA: 10 % of 16 train, rounded up, to val)
EXPECTED = {"lfwa": {"train": 14, "val": 2, "test": 8}, "pa100k": {"train": 12, "val": 4, "test": 8},
            "clothing": {"train": 12, "test": 8}}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_standin_is_prepared_by_the_real_preparer_with_the_rehearsal_arguments(tmp_path, name):
    config = load_experiment((), ["rehearsal=true"])
    source = tmp_path / "source"
    assert main(["standin", name, "--out", str(source)]) == 0
    assert not (tmp_path / "source.partial").exists()
    out = tmp_path / "prepared"
    assert main(["prepare", *datasets.prepare_args(config["datasets"], name), "--source", str(source),
                 "--out", str(out)]) == 0
    with open(out / "labels.csv", newline="") as f:
        splits = [row["split"] for row in csv.DictReader(f)]
    assert {s: splits.count(s) for s in set(splits)} == EXPECTED[name]
