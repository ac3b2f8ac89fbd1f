"""l2l.data.field_standins through the CLI: `l2l standin <set>` writes what `l2l prepare <set>` reads, with the
labels the writer says, and the same seed writes the same bytes."""

import hashlib

import pytest
from fieldcheck import prepared

from l2l.cli import main
from l2l.data import field_standins as F
from l2l.data.standins import REHEARSAL_WRITERS, write_standin

FIELD = ("peta", "rapv1", "rapv2", "celeba", "petazs", "rapzs")


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", FIELD)
def test_standin_prepares_through_the_cli(tmp_path, name):
    assert set(FIELD) <= set(REHEARSAL_WRITERS)
    assert main(["standin", name, "--out", str(tmp_path / "src"), "--seed", "2"]) == 0
    info = write_standin(name, tmp_path / "again", seed=2)  # the same writer, for its expectation
    assert _digest(tmp_path / "src") == _digest(tmp_path / "again")
    assert _digest(tmp_path / "src") != _digest(write_standin(name, tmp_path / "other", seed=3) and tmp_path / "other")
    assert main(["prepare", name, "--source", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 0
    names, rows = prepared(tmp_path / "out")
    assert names == info["attributes"]["eval"]
    expected = F.expected(info)
    if name == "rapv1":  # train and val are carved from the official trainval
        rows = {k: ("trainval" if s in ("train", "val") else s, c) for k, (s, c) in rows.items()}
    assert rows == expected
    splits = [s for s, _ in prepared(tmp_path / "out")[1].values()]
    assert min(splits.count(s) for s in ("train", "val", "test")) >= 2  # enough for the rehearsal's batches


def test_field_options_are_refused_where_they_would_be_ignored(tmp_path, capsys):
    assert main(["prepare", "pa100k", "--source", str(tmp_path), "--out", str(tmp_path / "o"), "--partition", "1"]) == 2
    assert "--partition does not apply to pa100k; it is an option of peta, rapv1" in capsys.readouterr().err
    assert main(["prepare", "celeba", "--source", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--uncertain", "zero"]) == 2
    assert "--uncertain does not apply to celeba" in capsys.readouterr().err


@pytest.mark.parametrize("name", FIELD)
def test_each_preparer_says_where_the_data_comes_from(name):
    """l2l prepare --help prints CONTENTS; the preflight and a missing source print INSTRUCTIONS."""
    from l2l.data.prepare import MODULES

    assert MODULES[name].CONTENTS and "http" in MODULES[name].INSTRUCTIONS
    assert f"l2l prepare {name}" in MODULES[name].INSTRUCTIONS or name.startswith("rap")
