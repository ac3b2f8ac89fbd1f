import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from l2l.data import load_prepared, write_prepared
from l2l.data.embedded import ATTRIBUTES, GROUPS, generate, sample_labels
from l2l.data.format import UNKNOWN, sha256_file
from l2l.data.loader import AttributeImageDataset
from l2l.errors import UserError


def test_embedded_dataset_format(tiny_dataset):
    ds = load_prepared(tiny_dataset)
    assert ds.attributes == ATTRIBUTES and ds.groups == GROUPS
    assert ds.labels.shape == (96 + 32 + 48, len(ATTRIBUTES))
    assert {s: len(ds.indices(s)) for s in ("train", "val", "test")} == {"train": 96, "val": 32, "test": 48}
    assert ds.meta["labels_sha256"] == sha256_file(tiny_dataset / "labels.csv")
    df = pd.read_csv(tiny_dataset / "labels.csv")
    assert list(df.columns[:2]) == ["image", "split"]


def test_generator_is_deterministic(tmp_path):
    a = generate(tmp_path / "a", n_train=20, n_val=5, n_test=5, seed=3)
    b = generate(tmp_path / "b", n_train=20, n_val=5, n_test=5, seed=3)
    c = generate(tmp_path / "c", n_train=20, n_val=5, n_test=5, seed=4)
    assert sha256_file(a / "labels.csv") == sha256_file(b / "labels.csv")
    assert sha256_file(a / "images/000007.png") == sha256_file(b / "images/000007.png")
    assert sha256_file(a / "labels.csv") != sha256_file(c / "labels.csv")


def test_generator_statistics():
    y = sample_labels(50000, np.random.default_rng(0))
    rates = y.mean(0)
    assert rates.min() > 0.1 and rates.max() < 0.65  # imbalanced, none degenerate
    corr = np.corrcoef(y.T)
    glow, red = ATTRIBUTES.index("faint_glow"), ATTRIBUTES.index("red")
    assert corr[glow, red] > 0.5  # weak attributes are inferable from visible ones


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_unknown_labels_round_trip(tmp_path):
    labels = np.array([[1, UNKNOWN], [0, 1]], dtype=np.int8)
    (tmp_path / "x.png").write_bytes(b"")
    (tmp_path / "y.png").write_bytes(b"")
    write_prepared(tmp_path, "t", ["a", "b"], ["x.png", "y.png"], ["train", "test"], labels, "test")
    assert (tmp_path / "labels.csv").read_text().splitlines()[1] == "x.png,train,1,"
    np.testing.assert_array_equal(load_prepared(tmp_path).labels, labels)


@pytest.mark.parametrize("breakage, message", [
    ("no_meta", "meta.yaml: missing"),
    ("edited", "does not match labels_sha256"),
    ("columns", "columns do not match meta.yaml"),
    ("value", "labels must be 1, 0 or empty"),
    ("split", "unknown split value"),
    ("image", r"image\(s\) listed in labels.csv are missing"),
])
def test_bad_prepared_dataset_names_file_and_fix(tiny_dataset, tmp_path, breakage, message):
    root = _copy(tiny_dataset, tmp_path / "ds")
    csv = root / "labels.csv"
    df = pd.read_csv(csv, dtype={"image": str, "split": str})
    if breakage == "no_meta":
        (root / "meta.yaml").unlink()
    elif breakage == "edited":
        csv.write_text(csv.read_text().replace("train", "test", 1))
    else:
        if breakage == "columns":
            df = df.drop(columns=["red"])
        elif breakage == "value":
            df.loc[3, "round"] = 2
        elif breakage == "split":
            df.loc[0, "split"] = "holdout"
        elif breakage == "image":
            (root / df.loc[5, "image"]).unlink()
        df.to_csv(csv, index=False)
        meta = (root / "meta.yaml").read_text()
        old = [line for line in meta.splitlines() if line.startswith("labels_sha256")][0]
        (root / "meta.yaml").write_text(meta.replace(old, f"labels_sha256: {sha256_file(csv)}"))
    with pytest.raises(UserError, match=message) as err:
        load_prepared(root)
    assert str(root) in str(err.value)


def test_missing_folder_says_how_to_fix(tmp_path):
    with pytest.raises(UserError, match="does not exist; run the prepare step"):
        load_prepared(tmp_path / "nope")


def test_corrupt_image_names_the_file(tiny_dataset, tmp_path):
    root = _copy(tiny_dataset, tmp_path / "ds")
    ds = load_prepared(root)
    bad = root / ds.images[ds.indices("train")[0]]
    bad.write_bytes(b"not a png")
    with pytest.raises(UserError, match=f"{bad}: image cannot be decoded"):
        AttributeImageDataset(ds, "train", [32, 32], preload=True)


def test_loader_tensors(tiny_dataset):
    ds = AttributeImageDataset(load_prepared(tiny_dataset), ["train", "val"], [24, 24], preload=True)
    assert len(ds) == 128
    img, y = ds[0]
    assert img.shape == (3, 24, 24) and img.dtype == torch.float32
    assert y.shape == (len(ATTRIBUTES),)
    lazy = AttributeImageDataset(load_prepared(tiny_dataset), ["train", "val"], [24, 24], preload=False)
    assert torch.equal(lazy[5][0], ds[5][0])
