"""`l2l predict`: a trained run on image files reproduces its own test metrics; clear errors otherwise."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from l2l import metrics as M
from l2l.config import resolve
from l2l.data import load_prepared
from l2l.engine import train

from inprocess import l2l as _l2l  # the real CLI, in this process

_RUNS = {}


def _trained(method, dataset, tmp_path_factory):
    """One short training run per method, shared by the tests of this module."""
    if method not in _RUNS:
        tmp = tmp_path_factory.mktemp(f"run_{method}")
        cfg = resolve({"method": method, "model": {"ffn_dim": 32},
                       "train": {"epochs": 2, "batch_size": 32, "eval_batch_size": 20},
                       "data": {"path": str(dataset)},
                       "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "experiment": "predict-test"}})
        train(cfg, tmp / "run", log=lambda m: None)
        _RUNS[method] = tmp / "run"
    return _RUNS[method]


@pytest.fixture
def trained_run(tiny_dataset, tmp_path_factory, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return _trained("label2label", tiny_dataset, tmp_path_factory)


def _test_images(dataset, dest):
    """Copy the test split's images into a folder of their own (names keep the split's order)."""
    data = load_prepared(dataset)
    dest.mkdir()
    idx = data.indices("test")
    for i in idx:
        shutil.copy(data.root / data.images[i], dest / data.images[i].split("/")[-1])
    return data, idx


@pytest.mark.parametrize("method", ["label2label", "fc_head"])
def test_predictions_reproduce_the_runs_test_metrics(method, tiny_dataset, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    trained_run = _trained(method, tiny_dataset, tmp_path_factory)
    data, idx = _test_images(tiny_dataset, tmp_path / "imgs")
    (tmp_path / "imgs" / "zz_broken.png").write_bytes(b"not a png")
    out = tmp_path / "preds.csv"
    res = _l2l("predict", "--run", str(trained_run), "--images", str(tmp_path / "imgs"), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "zz_broken.png" in res.stderr and "skipped 1" in res.stderr
    skipped = pd.read_csv(f"{out}.skipped.csv")
    assert list(skipped["image"].str.rsplit("/", n=1).str[-1]) == ["zz_broken.png"]

    preds = pd.read_csv(out)
    names = preds["image"].str.rsplit("/", n=1).str[-1].tolist()
    assert names == [data.images[i].split("/")[-1] for i in idx]
    assert list(preds.columns) == ["image"] + [f"{a}_{k}" for a in data.attributes for k in ("prob", "pred")]
    probs = preds[[f"{a}_prob" for a in data.attributes]].to_numpy()
    decisions = preds[[f"{a}_pred" for a in data.attributes]].to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    np.testing.assert_array_equal(decisions, (probs > 0.5).astype(int))

    recomputed = M.compute_metrics(probs, data.labels[idx], data.attributes, data.groups)
    expected = json.loads((trained_run / "metrics.json").read_text())["test"]
    for key, value in recomputed.items():
        assert value == expected[key], key  # exact: same images, preprocessing and forward pass


def test_glob_and_fail_on_unreadable_image(trained_run, tiny_dataset, tmp_path):
    _test_images(tiny_dataset, tmp_path / "imgs")
    res = _l2l("predict", "--run", str(trained_run), "--images", str(tmp_path / "imgs" / "*[05].png"),
               "--out", str(tmp_path / "few.csv"))
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "few.csv.skipped.csv").exists()
    assert len(pd.read_csv(tmp_path / "few.csv")) == len(list((tmp_path / "imgs").glob("*[05].png")))

    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    res = _l2l("predict", "--run", str(trained_run), "--images", str(tmp_path / "imgs"),
               "--out", str(tmp_path / "p.csv"), "--on-error", "fail")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "broken.jpg" in res.stderr and "--on-error skip" in res.stderr
    assert not (tmp_path / "p.csv").exists()


def test_run_without_checkpoint_is_a_clear_error(trained_run, tmp_path):
    run = tmp_path / "unfinished"
    run.mkdir()
    shutil.copy(trained_run / "config.yaml", run / "config.yaml")
    res = _l2l("predict", "--run", str(run), "--images", str(tmp_path), "--out", str(tmp_path / "p.csv"))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "has no model.pt" in res.stderr


def test_no_matching_images_is_a_clear_error(trained_run, tmp_path):
    res = _l2l("predict", "--run", str(trained_run), "--images", str(tmp_path / "*.png"),
               "--out", str(tmp_path / "p.csv"))
    assert res.returncode == 2
    assert "no images found" in res.stderr


def test_decompression_bomb_is_skipped_and_the_others_predicted(trained_run, tiny_dataset, tmp_path):
    """Issue 13 item 3: a PNG declaring 30000x30000 pixels was a traceback and no preds.csv at all."""
    from bombs import bomb_png

    _test_images(tiny_dataset, tmp_path / "imgs")
    n = len(list((tmp_path / "imgs").iterdir()))
    bomb = bomb_png(tmp_path / "imgs" / "bomb.png", 30000, 30000)
    res = _l2l("predict", "--run", str(trained_run), "--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "p.csv"))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "skipped 1" in res.stderr
    assert f"{bomb}: image too large to decode (" in res.stderr
    assert len(pd.read_csv(tmp_path / "p.csv")) == n and str(bomb) not in (tmp_path / "p.csv").read_text()
    skipped = pd.read_csv(tmp_path / "p.csv.skipped.csv")
    assert skipped["image"].tolist() == [str(bomb)]
    assert skipped["error"][0].startswith("image too large to decode (") and "L2L_MAX_IMAGE_PIXELS" in skipped["error"][0]

    res = _l2l("predict", "--run", str(trained_run), "--images", str(bomb), "--out", str(tmp_path / "q.csv"),
               "--on-error", "fail")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert f"{bomb}: image too large to decode" in res.stderr and not (tmp_path / "q.csv").exists()
