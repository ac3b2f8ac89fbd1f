"""`l2l predict` on bad input (issue 23, items 13 and 18): one line naming the file and the fix, exit 2."""

from __future__ import annotations

import pytest

from tests.inprocess import l2l


@pytest.mark.parametrize("text, says", [
    ("method: [unclosed\n", "not a valid run config"),
    ("!!python/object/apply:os.system ['echo pwned']\n", "not a valid run config"),  # safe_load refuses the tag
    ("- a\n- list\n", "a run config must be a mapping"),
    ("train: {lr: -1}\n", "train.lr"),  # the schema names the key, and the file
], ids=["malformed", "python-tag", "list", "schema"])
def test_a_bad_run_config_yaml_is_one_line(tmp_path, text, says):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(text)
    (run / "model.pt").write_bytes(b"")
    (tmp_path / "imgs").mkdir()
    res = l2l("predict", "--run", str(run), "--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "p.csv"))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert str(run / "config.yaml") in res.stderr and says in res.stderr
    assert not (tmp_path / "pwned").exists()
