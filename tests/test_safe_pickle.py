"""l2l.data.safe_pickle: what Rethinking_of_PAR's zero-shot files hold loads at every pickle protocol; any other
global is refused, naming the type and the file, before it is called."""

import pickle
import sys
import types

import numpy as np
import pytest

from l2l.data import field_standins as F
from l2l.data import safe_pickle
from l2l.errors import UserError


class Gadget:  # an arbitrary class: pickles as test_safe_pickle.Gadget
    def __init__(self):
        self.x = 1


@pytest.fixture()
def easydict(monkeypatch):
    """A module named easydict with a class EasyDict, only while the test pickles (easydict is not installed)."""
    module = types.ModuleType("easydict")
    module.EasyDict = F._fake_easydict()
    monkeypatch.setitem(sys.modules, "easydict", module)
    return module.EasyDict


def _zs_like(EasyDict):
    d = EasyDict()
    d.image_name = ["00001.png", "00002.png"]
    d.label = np.array([[0, 1, 2], [1, 0, 0]], dtype=np.uint8)
    d.label_idx = EasyDict()
    d.label_idx.eval = [2, 0]
    d.label_idx.extra = range(1, 3)
    d.partition = EasyDict()
    d.partition.train = np.array([1], dtype=np.int64)
    d.weight_train = [np.float32(0.25), np.asfortranarray(np.eye(2))]
    d.names = np.array(["a", "bb"], dtype=object)
    d.misc = (None, True, 1.5, b"raw", {3}, frozenset({4}), complex(1, 2))
    return d


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_what_the_zero_shot_files_hold_loads_at_every_protocol(easydict, protocol):
    data = pickle.dumps(_zs_like(easydict), protocol=protocol)
    d = safe_pickle.loads(data, "x.pkl")
    assert isinstance(d, safe_pickle.EasyDict) and isinstance(d.label_idx, safe_pickle.EasyDict)
    assert d.image_name == ["00001.png", "00002.png"] and d["label_idx"]["eval"] == [2, 0]
    assert d.label.dtype == np.uint8 and d.label.tolist() == [[0, 1, 2], [1, 0, 0]]
    assert d.label_idx.extra == range(1, 3) and d.partition.train.tolist() == [1]
    assert d.weight_train[0] == np.float32(0.25) and (d.weight_train[1] == np.eye(2)).all()
    assert list(d.names) == ["a", "bb"] and d.misc == (None, True, 1.5, b"raw", {3}, frozenset({4}), complex(1, 2))


def test_the_stand_in_file_is_written_as_rethinking_of_par_did(tmp_path):
    info = F.make_petazs(tmp_path / "PETA", n=6, sizes=(3, 1, 2))
    raw = (tmp_path / "PETA" / "dataset_zs_run0.pkl").read_bytes()
    assert b"ceasydict\nEasyDict\n" in raw and b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    assert "easydict" not in sys.modules
    d = safe_pickle.load(tmp_path / "PETA" / "dataset_zs_run0.pkl")
    assert d.attr_name == F.PETA_ATTRIBUTES and d.label_idx.extra == range(79, 105)
    assert d.partition.trainval.tolist() == info["partitions"][0]["train"] + info["partitions"][0]["val"]


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


class _Eval:
    def __reduce__(self):
        return eval, ("1 + 1",)


@pytest.mark.parametrize("payload,named", [
    (lambda m: _System(m), r"(posix|nt|os)\.system"),
    (lambda m: Gadget(), r"test_safe_pickle\.Gadget"),
    (lambda m: _Eval(), r"builtins\.eval"),
    (lambda m: {"fine": [1], "nested": {"deep": (np.zeros(1), _System(m))}}, r"(posix|nt|os)\.system"),
])
def test_any_other_type_is_refused_naming_it_and_the_file(tmp_path, payload, named):
    marker = tmp_path / "ran"
    path = tmp_path / "dataset_zs_run0.pkl"
    for protocol in (0, 2, 4):
        path.write_bytes(pickle.dumps(payload(marker), protocol=protocol))
        with pytest.raises(UserError, match=rf"{path}: refused to unpickle type {named}: a zero-shot split file "
                                            r"holds only an EasyDict, numpy"):
            safe_pickle.load(path)
    assert not marker.exists()


def test_persistent_ids_and_misused_helpers_are_refused(tmp_path):
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "x" if obj == "secret" else None

    import io

    buf = io.BytesIO()
    P(buf, protocol=2).dump(["secret"])
    with pytest.raises(UserError, match=r"f.pkl: refused a persistent id"):
        safe_pickle.loads(buf.getvalue(), "f.pkl")
    # copyreg._reconstructor is admitted for EasyDict only; _codecs.encode for latin-1 text only
    bad = b"ccopyreg\n_reconstructor\n(cbuiltins\nlist\ncbuiltins\nobject\nNtR."
    with pytest.raises(UserError, match=r"g.pkl: cannot be read .*_reconstructor called for <class 'list'>"):
        safe_pickle.loads(bad, "g.pkl")
    bad = b"c_codecs\nencode\n(X\x01\x00\x00\x00aX\x05\x00\x00\x00utf-7tR."
    with pytest.raises(UserError, match=r"h.pkl: cannot be read .*_codecs.encode called with \(str, 'utf-7'\)"):
        safe_pickle.loads(bad, "h.pkl")
    with pytest.raises(UserError, match=r"nowhere.pkl: cannot be read"):
        safe_pickle.load(tmp_path / "nowhere.pkl")


def test_a_key_named_like_a_pickle_hook_stays_data(easydict):
    """pickle looks up __setstate__ on the EasyDict it builds; a key of that name must not become the hook."""
    d = easydict()
    d["__setstate__"] = range(1)  # an admitted callable: called with the state, were the key taken as the hook
    d.x = 1
    got = safe_pickle.loads(pickle.dumps(d, protocol=3), "k.pkl")
    assert got["__setstate__"] == range(1) and got.x == 1
