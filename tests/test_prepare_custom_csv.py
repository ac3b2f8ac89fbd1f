"""`l2l prepare csv` on a labels.csv from anyone (issue 13, items 4-7 and 11): duplicate rows, empty columns,
paths leaving the folder, a byte-order mark, Latin-1 text and overlapping --source/--out are each refused
with one line naming the file and the fix (or accepted, for the BOM), and nothing half-written is left.
Attribute names the prepared format cannot hold (`image`, `split`, an empty header cell) are refused too
(issue 23, item 15)."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import leftovers
from PIL import Image
from realformats import make_csv

from l2l.cli import main
from l2l.data import load_prepared
from l2l.data.format import sha256_file
from l2l.data.prepare import prepare
from l2l.errors import UserError


def _labels(src: Path, lines: list[str], encoding: str = "utf-8", bom: bool = False) -> Path:
    """make_csv's images with our own labels.csv."""
    make_csv(src)
    data = "\n".join(lines).encode(encoding) + b"\n"
    (src / "labels.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return src


def _refused(tmp_path, src, message) -> str:
    with pytest.raises(UserError, match=message) as info:
        prepare("csv", src, tmp_path / "out")
    text = str(info.value)
    assert "\n" not in text and str(src / "labels.csv") in text and ".partial" not in text, text
    assert leftovers(tmp_path) == []
    return text


def test_duplicate_image_rows_are_refused_with_their_lines(tmp_path):
    """Item 4: the same image twice could land in train and in test (leakage); refused, not deduplicated."""
    src = _labels(tmp_path / "mine", ["image,smiling,hat", "photos/a.jpg,1,0", "photos/b.jpg,0,1",
                                      "./photos/a.jpg,1,0", "photos/c.jpg,1,1", "photos/b.jpg,0,0"])
    text = _refused(tmp_path, src, "2 duplicate image row")
    assert "'photos/a.jpg' (lines 2 and 4)" in text and "'photos/b.jpg' (lines 3 and 6)" in text
    assert "delete the repeated rows" in text


def test_attribute_column_without_any_known_label_is_refused(tmp_path):
    """Item 5: a column of empty cells was accepted and scored as 0 % accuracy."""
    src = _labels(tmp_path / "mine", ["image,smiling,hat,glasses", "photos/a.jpg,1,,0", "photos/b.jpg,0,,1"])
    text = _refused(tmp_path, src, r"column\(s\) 'hat' have no known label")
    assert "fill in 0/1 labels" in text and "delete the column" in text


@pytest.mark.parametrize("image", ["../outside.png", "/etc/hostname", "../../../../etc/hostname",
                                   "photos/../../outside.png", "photos/../.."])
def test_image_paths_leaving_the_folder_are_refused_before_any_file_is_opened(tmp_path, image, monkeypatch):
    """Item 6: '../../../../etc/hostname' was opened for the decode check."""
    (tmp_path / "outside.png").write_bytes(b"secret")
    src = _labels(tmp_path / "mine", ["image,smiling", "photos/a.jpg,1", f"{image},0"])
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k))
    text = _refused(tmp_path, src, f"line 3: image path '{re.escape(image)}' leaves the folder")
    assert "move or link the image into it" in text
    assert opened == []  # not even the good image: the label file is checked first


def test_prepared_labels_pointing_outside_are_refused_by_the_loader(tmp_path):
    src = tmp_path / "mine"
    make_csv(src)
    out = prepare("csv", src, tmp_path / "out")
    df = pd.read_csv(out / "labels.csv")
    df.loc[0, "image"] = "../../../../etc/hostname"
    df.to_csv(out / "labels.csv", index=False)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    meta["labels_sha256"] = sha256_file(out / "labels.csv")  # as a hand edit that knows the checksum would
    (out / "meta.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(UserError, match=r"labels.csv: row 2: image path '../../../../etc/hostname' leaves the dataset"):
        load_prepared(out)


def test_labels_csv_with_a_byte_order_mark_works(tmp_path):
    """Item 7: Excel's 'CSV UTF-8' starts with a BOM; it was "no 'image' column (header: \\ufeffimage...)"."""
    src = _labels(tmp_path / "mine", ["image,smiling,hat", "photos/a.jpg,1,0", "photos/b.jpg,0,1",
                                      "photos/c.jpg,1,1"], bom=True)
    out = prepare("csv", src, tmp_path / "out")
    assert load_prepared(out).attributes == ["smiling", "hat"]


def test_latin1_labels_csv_is_one_line_naming_the_file_and_the_fix(tmp_path, capsys):
    src = _labels(tmp_path / "mine", ["image,smiling,lunettes_portées", "photos/a.jpg,1,0", "photos/b.jpg,0,1"],
                  encoding="latin-1")
    text = _refused(tmp_path, src, r"labels.csv: not UTF-8 text \(byte 0xe9 at offset 27\); re-save it as UTF-8")
    assert "iconv -f latin1 -t utf-8 labels.csv" in text
    rc = main(["prepare", "csv", "--source", str(src), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err and "not UTF-8 text" in err


# ---- item 11: --out and --source overlap ----
@pytest.mark.parametrize("where", ["same", "out_inside_source", "source_inside_out"])
def test_overlapping_source_and_out_are_refused(tmp_path, where, capsys):
    if where == "source_inside_out":
        src, out = tmp_path / "ds" / "raw", tmp_path / "ds"
    else:
        src = tmp_path / "mine"
        out = src if where == "same" else src / "prepared"
    make_csv(src)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rc = main(["prepare", "csv", "--source", str(src), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert f"--source {src} and --out {out} overlap" in err and "e.g. --out results/datasets/<name>" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written or moved



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
