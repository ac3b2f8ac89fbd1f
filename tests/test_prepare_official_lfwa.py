"""`l2l prepare lfwa` on the official code's layout as it is (Face_Attribute/README.md, dataset.py):
LFWA/lfw/<Person>/<Person>_NNNN.jpg, train_lfwa.txt and val_lfwa.txt (the TEST split), one line per image
'path a1 ... a40' with integer values (> 0 = present), no trailing newline (dataset.py splits on '\\n')."""

import csv
from pathlib import Path

import numpy as np
import yaml
from realformats import jpeg

from l2l.cli import main
from l2l.data import load_prepared
from l2l.data.prepare import prepare
from l2l.data.prepare.lfwa import ATTRIBUTES

PEOPLE = ["Aaron_Eckhart", "Abdullah_Gul", "Zico", "Ana_Guevara", "Gerhard_Schroeder", "Tony_Blair", "Yao_Ming"]


def _official_layout(root: Path) -> dict[str, list[tuple[str, list[int]]]]:
    rng = np.random.default_rng(7)
    lists: dict[str, list[tuple[str, list[int]]]] = {"train_lfwa.txt": [], "val_lfwa.txt": []}
    for i, person in enumerate(PEOPLE):
        for k in (1, 2):
            rel = f"{person}/{person}_{k:04d}.jpg"
            jpeg(root / "lfw" / rel, 10 * i + k, size=(12, 12))
            values = (2 * rng.integers(0, 2, 40) - 1).tolist()  # ±1, as integers
            lists["val_lfwa.txt" if i >= 5 else "train_lfwa.txt"].append((rel, values))
    for name, rows in lists.items():
        (root / name).write_text("\n".join(" ".join([rel, *map(str, v)]) for rel, v in rows))
    return lists


def test_official_lfwa_layout_prepared_cell_by_cell(tmp_path):
    src = tmp_path / "LFWA"
    lists = _official_layout(src)
    out = prepare("lfwa", src, tmp_path / "out", seed=0, val_fraction=0.2)
    with open(out / "labels.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["image", "split", *ATTRIBUTES]
    expected = [(rel, v, "train") for rel, v in lists["train_lfwa.txt"]] + \
               [(rel, v, "test") for rel, v in lists["val_lfwa.txt"]]
    assert len(rows) == len(expected) == 14
    for got, (rel, values, split) in zip(rows, expected):
        assert got[0] == f"source/lfw/{rel}"
        assert got[1] == split or (split == "train" and got[1] == "val")  # val: carved from train only
        assert got[2:] == ["1" if v > 0 else "0" for v in values]
    splits = [r[1] for r in rows]
    assert splits.count("test") == 4 and splits.count("val") == 2 and splits.count("train") == 8
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert set(meta["source"]["files_sha256"]) == {"train_lfwa.txt", "val_lfwa.txt"}
    assert meta["source"]["split_sizes"]["official"] == {"train+val": 6263, "test": 6880}
    assert load_prepared(out).labels.shape == (14, 40)


def test_official_lfwa_layout_through_the_cli(tmp_path, capsys):
    src = tmp_path / "LFWA"
    _official_layout(src)
    assert main(["prepare", "lfwa", "--source", str(src), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "labels.csv").is_file()
