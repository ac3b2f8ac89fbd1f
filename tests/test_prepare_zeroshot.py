"""l2l.data.prepare.zeroshot (PETAzs, RAPzs) on stand-in dataset_zs_run0.pkl files written as Rethinking_of_PAR
wrote them (a pickled easydict.EasyDict, numpy 1.x names), cell by cell; a hostile pickle refused."""

import pickle

import pytest
import yaml
from fieldcheck import prepared, quiet

from l2l.data import field_standins as F
from l2l.data.prepare import prepare
from l2l.errors import UserError


@pytest.fixture(scope="module")
def petazs(tmp_path_factory):
    root = tmp_path_factory.mktemp("petazs") / "PETA"
    return root, F.make_petazs(root, seed=5)


@pytest.fixture(scope="module")
def rapzs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rapzs") / "RAP2"
    return root, F.make_rapzs(root, seed=6)


@pytest.mark.parametrize("attributes,uncertain", [("eval", "unknown"), ("all", "zero")])
def test_petazs_cell_by_cell(tmp_path, petazs, attributes, uncertain):
    root, info = petazs
    out = prepare("petazs", root, tmp_path / "out", attributes=attributes, uncertain=uncertain, log=quiet)
    names, rows = prepared(out)
    assert names == info["attributes"][attributes] and len(names) == {"eval": 35, "all": 105}[attributes]
    assert rows == F.expected(info, attributes, 0, uncertain)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["source"]["split_sizes"]["official"] == {"train": 11241, "val": 3826, "test": 3933}
    assert meta["source"]["evaluated"] == 35


@pytest.mark.parametrize("attributes,uncertain", [("eval", "unknown"), ("eval", "zero"), ("all", "unknown")])
def test_rapzs_cell_by_cell(tmp_path, rapzs, attributes, uncertain):
    root, info = rapzs
    out = prepare("rapzs", root, tmp_path / "out", attributes=attributes, uncertain=uncertain, log=quiet)
    names, rows = prepared(out)
    assert names == info["attributes"][attributes] and len(names) == {"eval": 53, "all": 119}[attributes]
    assert "Age46-60" not in names[:53]
    assert rows == F.expected(info, attributes, 0, uncertain)
    assert len(rows) == 24 < len(info["images"])  # images in no zero-shot split are left out
    assert (sum(c is None for _, cells in rows.values() for c in cells) > 0) == (uncertain == "unknown")


def test_zeroshot_refuses_a_hostile_pickle_before_calling_anything(tmp_path, petazs):
    root, _ = petazs
    src = tmp_path / "PETA"
    (src / "images").mkdir(parents=True)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    (src / "dataset_zs_run0.pkl").write_bytes(pickle.dumps({"image_name": [Evil()]}))
    with pytest.raises(UserError, match=r"dataset_zs_run0.pkl: refused to unpickle type (posix|nt|os)\.system"):
        prepare("petazs", src, tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_zeroshot_malformed_files_fail_naming_the_file(tmp_path):
    src = tmp_path / "PETA"
    F.make_petazs(src, n=10, sizes=(5, 2, 3))
    with pytest.raises(UserError, match=r"dataset_zs_run0.pkl: the file holds one partition; --partition must be 0"):
        prepare("petazs", src, tmp_path / "out", partition=2)
    from l2l.data import safe_pickle

    fields = safe_pickle.load(src / "dataset_zs_run0.pkl")
    fields["partition"]["test"][0] = 10  # 0-based: 10 is one past the last image
    F.write_zs_pickle(src / "dataset_zs_run0.pkl", dict(fields))
    with pytest.raises(UserError, match=r"partition.test holds 10, outside the 10 images \(0-based"):
        prepare("petazs", src, tmp_path / "out")
    del fields["partition"]
    F.write_zs_pickle(src / "dataset_zs_run0.pkl", dict(fields))
    with pytest.raises(UserError, match=r"dataset_zs_run0.pkl: the pickle has no 'partition' \(found: description"):
        prepare("petazs", src, tmp_path / "out")
    (src / "dataset_zs_run0.pkl").write_bytes(b"\x80\x03}q\x00(X")  # truncated
    with pytest.raises(UserError, match=r"dataset_zs_run0.pkl: cannot be read as a zero-shot split pickle"):
        prepare("petazs", src, tmp_path / "out")
    (src / "dataset_zs_run0.pkl").unlink()
    with pytest.raises(UserError, match=r"(?s)dataset_zs_run0.pkl not found.*valencebond/Rethinking_of_PAR"):
        prepare("petazs", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
