"""The image cache belongs to the pixels it was built from (issue 23, item 5): same labels, other images
(`l2l generate` again with another --image-size) make it stale, and so does another decode."""

from __future__ import annotations

import json
import shutil

import pytest

from l2l.data.cache import build_cache, check_cache, load_cache
from l2l.data.embedded import generate
from l2l.data.format import load_prepared
from l2l.errors import UserError


def _gen(path, image_size):
    return generate(path, n_train=16, n_val=4, n_test=4, image_size=image_size, seed=0)


def test_cache_of_other_pixels_with_the_same_labels_is_stale(tmp_path):
    root = _gen(tmp_path / "ds", 32)
    build_cache(load_prepared(root), "train", (16, 16))
    other = _gen(tmp_path / "other", 40)  # the same labels.csv, other pixels
    shutil.rmtree(root / "images")
    shutil.copytree(other / "images", root / "images")
    shutil.copy(other / "meta.yaml", root / "meta.yaml")
    data = load_prepared(root)
    with pytest.raises(UserError, match=r"train_16x16\.npy: image cache is stale .*regenerated or re-prepared.*"
                                        r"l2l cache --data"):
        load_cache(data, "train", (16, 16))
    build_cache(data, "train", (16, 16))  # an explicit build replaces it
    check_cache(data, "train", (16, 16))


def test_cache_built_by_another_decode_is_stale(tmp_path):
    data = load_prepared(_gen(tmp_path / "ds", 32))
    side = build_cache(data, "train", (16, 16)).with_suffix(".json")
    side.write_text(json.dumps({**json.loads(side.read_text()), "decode": "rgb-clipped"}))
    with pytest.raises(UserError, match="built by another image decode"):
        check_cache(data, "train", (16, 16))
    side.write_text("{truncated")
    with pytest.raises(UserError, match=r"train_16x16\.json: image cache sidecar unreadable"):
        check_cache(data, "train", (16, 16))
