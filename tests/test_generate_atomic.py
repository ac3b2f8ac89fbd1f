"""`l2l generate` makes the whole dataset appear at once (issue 23, item 6): killed while writing images,
it leaves the old dataset whole (images and labels of one generation), never new images under old labels."""

from __future__ import annotations

import hashlib

import pytest

from l2l.data import embedded
from l2l.data.embedded import generate
from l2l.data.format import load_prepared
from l2l.errors import UserError


def _snapshot(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _killed_after(k):
    """The progress wrapper, interrupted (as a kill would) after ``k`` images were written."""
    def progress(items, **kwargs):
        for i, item in enumerate(items):
            if i == k:
                raise KeyboardInterrupt
            yield item
    return progress


def test_a_killed_generate_leaves_the_old_dataset_whole(tmp_path, monkeypatch):
    root = generate(tmp_path / "ds", n_train=24, n_val=4, n_test=4, seed=0)
    before = _snapshot(root)
    monkeypatch.setattr(embedded, "_progress", _killed_after(10))
    with pytest.raises(KeyboardInterrupt):
        generate(root, n_train=24, n_val=4, n_test=4, seed=1)
    assert _snapshot(root) == before  # not one image of seed 1
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # and no staging folder left behind
    monkeypatch.undo()
    generate(root, n_train=24, n_val=4, n_test=4, seed=1)  # completed: the new set replaces the old one
    after = _snapshot(root)
    assert after["labels.csv"] != before["labels.csv"] and after["images/000000.png"] != before["images/000000.png"]
    load_prepared(root)


def test_generate_replaces_only_a_dataset_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me\n")
    with pytest.raises(UserError, match="exists and is not a prepared dataset; choose another --out"):
        generate(tmp_path / "mine", n_train=4, n_val=2, n_test=2)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me\n"
