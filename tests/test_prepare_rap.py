"""l2l.data.prepare.rap (RAPv1, RAPv2) on stand-in RAP_annotation.mat files (l2l.data.field_standins), cell by
cell against labels worked out by attribute name; uncertain (2) both ways; RAPv1's seeded val carve."""

import pytest
import yaml
from fieldcheck import prepared, quiet

from l2l.data import field_standins as F
from l2l.data.prepare import prepare
from l2l.errors import UserError


@pytest.fixture(scope="module")
def rapv1(tmp_path_factory):
    root = tmp_path_factory.mktemp("rapv1") / "RAP"
    return root, F.make_rapv1(root, seed=1)


@pytest.fixture(scope="module")
def rapv2(tmp_path_factory):
    root = tmp_path_factory.mktemp("rapv2") / "RAP2"
    return root, F.make_rapv2(root, seed=2)


def _trainval(rows):
    return {k: ("trainval" if split in ("train", "val") else split, cells) for k, (split, cells) in rows.items()}


@pytest.mark.parametrize("attributes,partition,uncertain", [("eval", 0, "unknown"), ("all", 0, "zero"),
                                                             ("eval", 3, "zero"), ("all", 2, "unknown")])
def test_rapv1_cell_by_cell(tmp_path, rapv1, attributes, partition, uncertain):
    root, info = rapv1
    out = prepare("rapv1", root, tmp_path / "out", attributes=attributes, partition=partition, uncertain=uncertain,
                  log=quiet)
    names, rows = prepared(out)
    assert names == info["attributes"][attributes] and len(names) == {"eval": 51, "all": 92}[attributes]
    assert _trainval(rows) == F.expected(info, attributes, partition, uncertain)
    unknown = sum(c is None for _, cells in rows.values() for c in cells)
    assert (unknown > 0) == (uncertain == "unknown") and info["n_uncertain"] > 0
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["splits"] == {"train": 14, "val": 2, "test": 8}  # 10 % of 16 trainval, rounded: 2
    assert meta["source"]["split_sizes"]["official"] == {"train+val": 33268, "test": 8317}


def test_rapv1_val_carve_is_seeded(tmp_path, rapv1):
    root, _ = rapv1
    vals = []
    for seed in (0, 0, 7):
        _, rows = prepared(prepare("rapv1", root, tmp_path / f"out{len(vals)}", seed=seed, val_fraction=0.25,
                                   log=quiet))
        vals.append(sorted(k for k, (s, _) in rows.items() if s == "val"))
    assert len(vals[0]) == 4 and vals[0] == vals[1] != vals[2]


def test_rapv1_eval_order_is_the_official_group_order(tmp_path, rapv1):
    root, _ = rapv1
    names, _ = prepared(prepare("rapv1", root, tmp_path / "out", log=quiet))
    assert names[:3] == ["hs-BaldHead", "hs-LongHair", "hs-BlackHair"]
    assert names[34:43] == ["AgeLess16", "Age17-30", "Age31-45", "Female", "BodyFat", "BodyNormal", "BodyThin",
                            "Customer", "Clerk"]


@pytest.mark.parametrize("attributes,partition,uncertain", [("eval", 0, "unknown"), ("all", 0, "unknown"),
                                                             ("eval", 1, "zero"), ("all", 4, "zero")])
def test_rapv2_cell_by_cell(tmp_path, rapv2, attributes, partition, uncertain):
    root, info = rapv2
    out = prepare("rapv2", root, tmp_path / "out", attributes=attributes, partition=partition, uncertain=uncertain,
                  log=quiet)
    names, rows = prepared(out)
    assert names == info["attributes"][attributes] and len(names) == {"eval": 54, "all": 119}[attributes]
    assert "viewpoint" not in names and not any(n.startswith("position-") for n in names)
    assert rows == F.expected(info, attributes, partition, uncertain)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["splits"] == {"train": 12, "val": 4, "test": 8}
    assert meta["source"]["split_sizes"]["official"] == {"train": 50957, "val": 16986, "test": 16985}


def _edit(root, change):
    from scipy.io import loadmat, savemat

    path = root / "RAP_annotation" / "RAP_annotation.mat"
    ann = loadmat(path)["RAP_annotation"]
    fields = {n: ann[0][0][n] for n in ann.dtype.names}
    change(fields)
    savemat(path, {"RAP_annotation": fields})


def test_rap_malformed_releases_fail_naming_the_file_and_the_fix(tmp_path):
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    F.make_rapv1(v1, n=10, sizes=(6, 4))
    F.make_rapv2(v2, n=10, sizes=(5, 2, 3))
    with pytest.raises(UserError, match=r"RAP_annotation.mat: RAP_annotation has no name, data, attribute, "
                                        r"selected_attribute, partition_attribute .* use `l2l prepare rapv1`"):
        prepare("rapv2", v1, tmp_path / "out")
    with pytest.raises(UserError, match=r"not RAPv1's annotation file \(it looks like rapv2's"):
        prepare("rapv1", v2, tmp_path / "out")
    _edit(v1, lambda f: f.update(label=f["label"][:, :90]))
    with pytest.raises(UserError, match=r"v1/RAP_annotation/RAP_annotation.mat: label has shape \(10, 90\), "
                                        r"expected \(10, 92\)"):
        prepare("rapv1", v1, tmp_path / "out")
    _edit(v2, lambda f: f["data"].__setitem__((3, F.RAPV2_ATTRIBUTES.index("hs-Hat")), 5.0))
    with pytest.raises(UserError, match=r"data row 4, attribute 'hs-Hat' is 5; labels must be 0, 1 or 2"):
        prepare("rapv2", v2, tmp_path / "out")
    _edit(v2, lambda f: f.update(selected_attribute=f["selected_attribute"][:, :50]))
    with pytest.raises(UserError, match=r"selected_attribute lists 50 attributes, RAPv2 evaluates 54"):
        prepare("rapv2", v2, tmp_path / "out")
    (v2 / "RAP_dataset").rename(v2 / "images")
    with pytest.raises(UserError, match=r"(?s)the image folder RAP_dataset/ not found .*rapdataset.com"):
        prepare("rapv2", v2, tmp_path / "out")
    assert not (tmp_path / "out").exists()
