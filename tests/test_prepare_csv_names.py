"""`l2l prepare csv` refuses attribute names the prepared format cannot hold (issue 23, item 15): an attribute
named `image` or `split`, or an empty header cell, was accepted, then every later step refused the dataset
with "columns do not match meta.yaml ... re-run prepare", which rebuilt the same dataset."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from l2l.data.prepare import prepare
from l2l.errors import UserError


def _source(tmp_path, header, rows):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(src / f"{i}.png")
    (src / "labels.csv").write_text("\n".join([header, *rows]) + "\n")
    return src


@pytest.mark.parametrize("header, options, says", [
    ("path,image,smile", {"image_column": "path"}, "column 2 is an attribute named 'image'"),
    ("image,fold,split,smile", {"split_column": "fold"}, "column 3 is an attribute named 'split'"),
    ("image,,smile", {}, "column 2 has an empty header cell"),
], ids=["image", "split", "empty"])
def test_reserved_or_empty_attribute_names_are_refused_at_prepare(tmp_path, header, options, says):
    width = header.count(",")
    fold = "fold" in header
    rows = [f"{i}.png," + ("train," if fold else "") + ",".join(["1"] * (width - fold)) for i in range(4)]
    src = _source(tmp_path, header, rows)
    with pytest.raises(UserError, match=rf"labels\.csv: {says}"):
        prepare("csv", src, tmp_path / "out", log=lambda m: None, **options)
    assert not (tmp_path / "out").exists()
