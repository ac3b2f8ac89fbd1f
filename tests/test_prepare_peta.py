"""l2l.data.prepare.peta on a stand-in PETA.mat + images/ (l2l.data.field_standins), checked cell by cell
against labels worked out by attribute name (the preparer works by column index)."""

import numpy as np
import pytest
import yaml
from fieldcheck import prepared, quiet

from l2l.cli import main
from l2l.data import field_standins as F
from l2l.data.prepare import prepare
from l2l.errors import UserError


@pytest.fixture(scope="module")
def peta(tmp_path_factory):
    root = tmp_path_factory.mktemp("peta") / "PETA"
    return root, F.make_peta(root, seed=3)


@pytest.mark.parametrize("attributes,partition", [("eval", 0), ("all", 0), ("eval", 3), ("all", 4)])
def test_peta_cell_by_cell(tmp_path, peta, attributes, partition):
    root, info = peta
    out = prepare("peta", root, tmp_path / "out", attributes=attributes, partition=partition, log=quiet)
    names, rows = prepared(out)
    assert names == info["attributes"][attributes]
    assert len(names) == {"eval": 35, "all": 105}[attributes]
    assert rows == F.expected(info, attributes, partition)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["splits"] == {"train": 12, "val": 4, "test": 8}
    assert meta["source"]["partition"] == partition and meta["source"]["attributes"] == attributes
    assert meta["source"]["split_sizes"]["official"] == {"train": 9500, "val": 1900, "test": 7600}


def test_peta_eval_order_is_the_official_group_order(tmp_path, peta):
    root, _ = peta
    names, _ = prepared(prepare("peta", root, tmp_path / "out", log=quiet))
    assert names[:5] == ["accessoryHat", "accessoryMuffler", "accessoryNothing", "accessorySunglasses", "hairLong"]
    assert names[-5:] == ["personalLess30", "personalLess45", "personalLess60", "personalLarger60", "personalMale"]


def test_peta_partitions_differ_and_cli_passes_the_options(tmp_path, peta):
    root, info = peta
    assert main(["prepare", "peta", "--source", str(root), "--out", str(tmp_path / "p2"), "--partition", "2",
                 "--attributes", "all", "--check-images", "exists"]) == 0
    _, rows = prepared(tmp_path / "p2")
    assert rows == F.expected(info, "all", 2) != F.expected(info, "all", 0)


def _rewrite(root, change):
    from scipy.io import loadmat, savemat

    mat = loadmat(root / "PETA.mat")
    peta = {n: mat["peta"][0][0][n] for n in mat["peta"].dtype.names}
    change(peta)
    savemat(root / "PETA.mat", {"peta": peta})


def test_peta_malformed_releases_fail_naming_the_file(tmp_path):
    root = tmp_path / "PETA"
    F.make_peta(root, n=12, sizes=(6, 2, 4))
    with pytest.raises(UserError, match=r"partition 5 does not exist; the release has partitions 0..4"):
        prepare("peta", root, tmp_path / "out", partition=5)
    _rewrite(root, lambda p: p.update(data=p["data"][:, :100]))
    with pytest.raises(UserError, match=r"PETA.mat: peta data \(field 1\) has shape \(12, 100\), expected \(N, 109\)"):
        prepare("peta", root, tmp_path / "out")
    F.make_peta(root, n=12, sizes=(6, 2, 4))
    _rewrite(root, lambda p: p["partition_attribute"][1, 0][0, 0]["test_index"].__setitem__((0, 0), 0.0))
    with pytest.raises(UserError, match=r"partition 1 test index holds 0, outside the 12 images \(1-based"):
        prepare("peta", root, tmp_path / "out", partition=0)  # every partition is checked: the file is damaged
    F.savemat(root / "PETA.mat", {"peta": np.zeros((3, 3))})
    with pytest.raises(UserError, match=r"PETA.mat: peta has no field number 1 \(fields: none: not a struct\)"):
        prepare("peta", root, tmp_path / "out")
    F.savemat(root / "PETA.mat", {"RAP_annotation": np.zeros((3, 3))})
    with pytest.raises(UserError, match=r"PETA.mat: no variable 'peta' \(found: RAP_annotation\)"):
        prepare("peta", root, tmp_path / "out")
    (root / "PETA.mat").unlink()
    with pytest.raises(UserError, match=r"(?s)PETA: PETA.mat not found \(found: images\).*dangweili"):
        prepare("peta", root, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_peta_rows_are_one_based(tmp_path, peta):
    """Image i+1 of the file is row i: the last image of the partition maps to the last label row."""
    root, info = peta
    from scipy.io import loadmat

    part = loadmat(root / "PETA.mat")["peta"][0][0][3][0][0][0][0][2][:, 0]  # partition 0 test, 1-based
    _, rows = prepared(prepare("peta", root, tmp_path / "out", attributes="all", log=quiet))
    last = int(part.max())
    assert rows[f"source/images/{last:05d}.png"][1] == [info["values"][a][last - 1] for a in info["attributes"]["all"]]
    assert np.isin(part, np.arange(1, 25)).all()
