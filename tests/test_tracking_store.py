"""The MLflow store as bad input (issue 23, items 12 and 16): a corrupted mlflow.db is one line naming it
(was a sqlalchemy DatabaseError traceback from train and init-tracking), and a read-only command given a
store that does not exist refuses instead of creating an empty one there."""

from __future__ import annotations

import pytest

from l2l.errors import UserError
from l2l.tracking import Tracker
from tests.inprocess import l2l

RUN = "runs:/0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("content", [b"\x8f" * 4096, b"SQLite format 3\x00" + b"\x00" * 50],
                         ids=["noise", "bad-header"])
def test_init_tracking_on_a_corrupted_store_is_one_line(tmp_path, monkeypatch, content):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    db = tmp_path / "mlflow.db"
    db.write_bytes(content)
    res = l2l("init-tracking", "--uri", f"sqlite:///{db}", "--experiment", "x")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert f"{db}: cannot be used as an MLflow store (file is not a database); if it is corrupted, move it aside" \
        in res.stderr
    assert db.read_bytes() == content  # nothing written over it


def test_train_on_a_corrupted_store_is_one_line(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(UserError, match=r"mlflow\.db: cannot be used as an MLflow store .*mv .*mlflow\.db\.broken"):
        Tracker.start(f"sqlite:///{db}", "x", "run", {}, {})


def test_predict_from_another_folder_creates_no_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    for uri in ([], ["--uri", f"sqlite:///{tmp_path}/mlflw.db"]):  # the default ./results/mlflow.db; a typo
        res = l2l("predict", "--run", RUN, "--images", "imgs", "--out", "p.csv", *uri)
        assert res.returncode == 2 and "no MLflow store there" in res.stderr, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]
