"""The real preparers on small copies of each dataset's distribution format, checked cell by cell."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import leftovers
from PIL import Image
from realformats import CLOTHING_STEMS, PA100K_ATTRIBUTES, make_clothing, make_csv, make_lfwa, make_pa100k

from l2l.cli import main
from l2l.data import load_prepared
from l2l.data.prepare import prepare
from l2l.data.prepare.clothing import ATTRIBUTES as CLOTHING_ATTRIBUTES, GROUPS
from l2l.data.prepare.lfwa import ATTRIBUTES as LFWA_ATTRIBUTES
from l2l.errors import UserError


def read_rows(out: Path) -> tuple[list[str], list[list[str]]]:
    with open(out / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def cell(v) -> str:
    return "" if v is None else str(int(v))


def test_pa100k_official_split_and_attribute_order(tmp_path):
    src = tmp_path / "PA-100K"
    exp = make_pa100k(src)
    out = prepare("pa100k", src, tmp_path / "out")
    header, rows = read_rows(out)
    assert header == ["image", "split", *PA100K_ATTRIBUTES]
    assert len(rows) == len(exp["rows"])
    for got, (image, split, labels) in zip(rows, exp["rows"]):
        assert got == [image, split, *map(cell, labels)]
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["splits"] == {"train": 8, "val": 3, "test": 4}
    assert meta["source"]["split_sizes"]["official"] == {"train": 80000, "val": 10000, "test": 10000}
    assert meta["source"]["split_sizes"]["match_official"] is False
    assert len(meta["source"]["files_sha256"]["annotation.mat"]) == 64
    ds = load_prepared(out)  # the prepared folder passes the loader's own checks
    assert ds.labels.shape == (15, 26)


@pytest.mark.parametrize("zero_one", [False, True])
def test_lfwa_lists_and_seeded_val(tmp_path, zero_one):
    src = tmp_path / "lfwa"
    exp = make_lfwa(src, zero_one=zero_one)
    out = prepare("lfwa", src, tmp_path / "out", seed=3, val_fraction=0.2)
    header, rows = read_rows(out)
    assert header == ["image", "split", *LFWA_ATTRIBUTES]
    for got, (image, split, labels) in zip(rows, exp["rows"]):
        assert got[0] == image and got[2:] == [cell(v) for v in labels]
        assert got[1] == split or (split == "train" and got[1] == "val")
    splits = [r[1] for r in rows]
    assert splits.count("val") == 2 and splits.count("train") == 8 and splits.count("test") == 6
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["source"]["split_sizes"]["official"] == {"train+val": 6263, "test": 6880}
    assert meta["source"]["split_seed"] == 3
    again = prepare("lfwa", src, tmp_path / "again", seed=3, val_fraction=0.2)
    assert (again / "labels.csv").read_bytes() == (out / "labels.csv").read_bytes()
    other = [r[1] for r in read_rows(prepare("lfwa", src, tmp_path / "other", seed=4, val_fraction=0.2))[1]]
    assert other != splits  # a different seed carves a different val set (fixed fixture: checked to differ)


@pytest.mark.parametrize("spelling, as_row", [(0, False), (1, False), (1, True)])
def test_clothing_matches_files_by_name_with_nan_unknown(tmp_path, spelling, as_row):
    src = tmp_path / "ClothingAttributeDataset"
    exp = make_clothing(src, n=12, spelling=spelling, as_row=as_row)
    out = prepare("clothing", src, tmp_path / "out", seed=0, train_size=8)
    header, rows = read_rows(out)
    assert header == ["image", "split", *CLOTHING_ATTRIBUTES] and len(CLOTHING_ATTRIBUTES) == 23
    assert sum(1 for r in rows if r[1] == "train") == 8 and sum(1 for r in rows if r[1] == "test") == 4
    for i, got in enumerate(rows):
        assert got[0] == f"source/images/{i + 1:06d}.jpg"
        assert got[2:] == [cell(exp["labels"][a][i]) for a in CLOTHING_ATTRIBUTES]
    assert any(r[2:].count("") for r in rows)  # the NaNs really are empty cells
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["groups"] == GROUPS
    assert meta["source"]["ignored_multiclass"] == ["category_GT.mat", "neckline_GT.mat", "sleevelength_GT.mat"]
    assert meta["source"]["label_files"]["skin_exposure"] == f"{CLOTHING_STEMS['skin_exposure'][spelling]}_GT.mat"
    ds = load_prepared(out)
    assert (ds.labels == -1).any()


def test_clothing_split_is_seeded(tmp_path):
    src = tmp_path / "c"
    make_clothing(src, n=12)
    a = [r[1] for r in read_rows(prepare("clothing", src, tmp_path / "a", seed=0, train_size=8))[1]]
    b = [r[1] for r in read_rows(prepare("clothing", src, tmp_path / "b", seed=0, train_size=8))[1]]
    c = [r[1] for r in read_rows(prepare("clothing", src, tmp_path / "c2", seed=1, train_size=8))[1]]
    assert a == b and a != c


@pytest.mark.parametrize("with_split", [True, False])
def test_csv_dataset(tmp_path, with_split):
    src = tmp_path / "mine"
    exp = make_csv(src, with_split=with_split)
    out = prepare("csv", src, tmp_path / "out", seed=0, name="mine", val_fraction=0.4)
    header, rows = read_rows(out)
    assert header == ["image", "split", "smiling", "hat", "glasses"]
    for got, want in zip(rows, exp["rows"]):
        assert got[0] == f"source/{want[0]}" and got[2:] == list(want[2:])
        if with_split:
            assert got[1] == want[1]
    if not with_split:
        splits = [r[1] for r in rows]
        # 6 images: round(0.2 * 6) = 1 to test, then round(0.4 * 5) = 2 of the rest to val
        assert (splits.count("train"), splits.count("val"), splits.count("test")) == (3, 2, 1)
    assert yaml.safe_load((out / "meta.yaml").read_text())["name"] == "mine"


def test_prepare_from_zip_and_tar_archives(tmp_path):
    src = tmp_path / "ClothingAttributeDataset"
    make_clothing(src, n=10)
    archive = shutil.make_archive(str(tmp_path / "clothing"), "zip", tmp_path, src.name)
    out = prepare("clothing", archive, tmp_path / "out", train_size=6)
    assert (out / "source" / src.name / "images").is_dir() and not (out / "source").is_symlink()
    assert read_rows(out)[1][0][0] == f"source/{src.name}/images/000001.jpg"
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert len(meta["source"]["archive_sha256"]) == 64
    tar = shutil.make_archive(str(tmp_path / "clothing"), "gztar", tmp_path, src.name)
    out2 = prepare("clothing", tar, tmp_path / "out2", train_size=6)
    assert read_rows(out2) == read_rows(out)


def test_prepare_replaces_a_previous_prepared_folder_and_refuses_others(tmp_path):
    src = tmp_path / "mine"
    make_csv(src)
    out = prepare("csv", src, tmp_path / "out")
    prepare("csv", src, tmp_path / "out")  # a prepared folder may be replaced
    assert load_prepared(out).labels.shape == (6, 3)
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    with pytest.raises(UserError, match="exists and is not a prepared dataset"):
        prepare("csv", src, other)
    assert (other / "thesis.tex").exists()


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".out") or p.name == "out")


# Each error: a UserError naming the file, and nothing (not even a staging folder) left behind.
def _missing_source(tmp):
    return "pa100k", tmp / "nowhere", "nowhere does not exist", {}


def _missing_annotation(tmp):
    make_pa100k(tmp / "pa")
    (tmp / "pa" / "annotation.mat").unlink()
    return "pa100k", tmp / "pa", r"(?s)pa: annotation.mat not found \(found: data\).*HydraPlus-Net", {}


def _missing_clothing_attribute(tmp):
    make_clothing(tmp / "c", n=6)
    (tmp / "c" / "labels" / "wearscarf_GT.mat").unlink(missing_ok=True)
    (tmp / "c" / "labels" / "scarf_GT.mat").unlink(missing_ok=True)
    return "clothing", tmp / "c", r"labels: no label file for attribute\(s\) scarf; found: black_GT.mat", {"train_size": 4}


def _lfwa_wrong_columns(tmp):
    make_lfwa(tmp / "l")
    lines = (tmp / "l" / "test.txt").read_text().splitlines()
    lines[2] = lines[2].rsplit(" ", 1)[0]
    (tmp / "l" / "test.txt").write_text("\n".join(lines) + "\n")
    return "lfwa", tmp / "l", r"test.txt: line 3 has 39 label values, expected 40", {}


def _pa100k_wrong_columns(tmp):
    from scipy.io import loadmat, savemat

    make_pa100k(tmp / "pa")
    mat = loadmat(tmp / "pa" / "annotation.mat")
    mat["val_label"] = mat["val_label"][:, :25]
    savemat(tmp / "pa" / "annotation.mat", {k: v for k, v in mat.items() if not k.startswith("__")})
    return "pa100k", tmp / "pa", r"annotation.mat: val_label has shape \(3, 25\)", {}


def _csv_wrong_columns(tmp):
    make_csv(tmp / "m")
    with open(tmp / "m" / "labels.csv", "a") as f:
        f.write("photos/a.jpg,train,1,0,1,1\n")
    return "csv", tmp / "m", "labels.csv: line 8 has 6 columns, the header has 5", {}


def _undecodable_image(tmp):
    make_lfwa(tmp / "l")
    bad = next((tmp / "l" / "lfw").rglob("*.jpg"))
    bad.write_bytes(bad.read_bytes()[:200])  # truncated JPEG
    return "lfwa", tmp / "l", f"{bad.name}: image cannot be decoded", {}


def _missing_image(tmp):
    make_pa100k(tmp / "pa")
    (tmp / "pa" / "data" / "000010.jpg").unlink()
    return "pa100k", tmp / "pa", r"000010.jpg: image listed in the labels is missing \(1 of 15", {}


def _truncated_zip(tmp):
    make_clothing(tmp / "c", n=6)
    z = Path(shutil.make_archive(str(tmp / "c"), "zip", tmp, "c"))
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    return "clothing", z, r"c.zip: truncated or corrupt zip archive", {"train_size": 4}


def _truncated_tar(tmp):
    make_clothing(tmp / "c", n=6)
    t = Path(shutil.make_archive(str(tmp / "c"), "gztar", tmp, "c"))
    t.write_bytes(t.read_bytes()[: t.stat().st_size // 2])
    return "clothing", t, r"c.tar.gz: truncated or corrupt tar archive", {"train_size": 4}


def _bad_clothing_value(tmp):
    from scipy.io import savemat

    make_clothing(tmp / "c", n=6)
    savemat(tmp / "c" / "labels" / "red_GT.mat", {"GT": np.array([[1.0], [2.0], [3.0], [1.0], [1.0], [2.0]])})
    return "clothing", tmp / "c", r"red_GT.mat: GT row 3 is 3", {"train_size": 4}


@pytest.mark.parametrize("case", [_missing_source, _missing_annotation, _missing_clothing_attribute,
                                  _lfwa_wrong_columns, _pa100k_wrong_columns, _csv_wrong_columns,
                                  _undecodable_image, _missing_image, _truncated_zip, _truncated_tar,
                                  _bad_clothing_value])
def test_bad_sources_fail_clearly_and_leave_nothing(tmp_path, case):
    kind, source, message, options = case(tmp_path)
    with pytest.raises(UserError, match=message) as info:
        prepare(kind, source, tmp_path / "out", **options)
    assert str(source) in str(info.value) and ".partial" not in str(info.value)  # names the user's file
    assert _leftovers(tmp_path) == []


def test_manual_mode_message_says_where_to_get_and_put_the_data(tmp_path, capsys):
    rc = main(["prepare", "lfwa", "--source", str(tmp_path / "data/lfwa"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "data/lfwa does not exist" in err
    assert "mmlab.ie.cuhk.edu.hk/projects/CelebA.html" in err and "lfw.tgz" in err
    assert "train.txt and test.txt" in err and "datasets.lfwa.path" in err
    assert not (tmp_path / "out").exists()


def test_cli_prepare_and_help(tmp_path, capsys):
    make_csv(tmp_path / "mine", with_split=False)
    rc = main(["prepare", "csv", "--source", str(tmp_path / "mine"), "--out", str(tmp_path / "out"), "--seed", "5",
               "--source-url", "https://example.org/x.zip"])
    assert rc == 0
    meta = yaml.safe_load((tmp_path / "out" / "meta.yaml").read_text())
    assert meta["source"]["url"] == "https://example.org/x.zip" and meta["source"]["split_seed"] == 5
    load_prepared(tmp_path / "out")  # the rewritten meta.yaml still matches labels.csv
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    text = capsys.readouterr().out
    for needle in ("annotation.mat", "labels/<attribute>_GT.mat", "train.txt and test.txt", "image column"):
        assert needle in text


def test_training_on_prepared_clothing_tags_the_source_checksum(tmp_path, monkeypatch):
    """A prepared real format trains as is (unknowns, groups, no val) and MLflow records the archive hash."""
    from l2l.config import resolve
    from l2l.engine import train
    from helpers import list_runs

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    src = tmp_path / "ClothingAttributeDataset"
    make_clothing(src, n=12)
    archive = shutil.make_archive(str(tmp_path / "clothing"), "zip", tmp_path, src.name)
    out = prepare("clothing", archive, tmp_path / "prepared", train_size=8)
    cfg = resolve({"method": "aqn", "model": {"ffn_dim": 16}, "train": {"epochs": 1, "batch_size": 4, "selection": "last"},
                   "data": {"path": str(out), "val_split": None},
                   "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "clothing"}})
    result = train(cfg, tmp_path / "run", log=lambda m: None)
    assert set(result["test"]["group_accuracy"]) == set(GROUPS)
    (run,) = list_runs(f"sqlite:///{tmp_path}/mlflow.db", "clothing")
    sha = yaml.safe_load((out / "meta.yaml").read_text())["source"]["archive_sha256"]
    assert run.data.tags["source_sha256"] == sha


def test_every_preparer_refuses_list_paths_leaving_the_source(tmp_path, monkeypatch):
    """The same guard for the paper's formats (here an LFWA list): checked before any image is opened."""
    from realformats import make_lfwa

    make_lfwa(tmp_path / "l")
    lines = (tmp_path / "l" / "train.txt").read_text().splitlines()
    lines[1] = " ".join(["../../../../../etc/hostname", *lines[1].split()[1:]])
    (tmp_path / "l" / "train.txt").write_text("\n".join(lines) + "\n")
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k))
    with pytest.raises(UserError, match=r"image path 'source/lfw/../../../../../etc/hostname' in the label file "
                                        r"leaves the source folder") as info:
        prepare("lfwa", tmp_path / "l", tmp_path / "out")
    assert str(tmp_path / "l") in str(info.value) and opened == [] and leftovers(tmp_path) == []
