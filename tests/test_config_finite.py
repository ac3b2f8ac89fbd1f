"""NaN and inf are refused by the config check, naming the key (issue 23, item 14): `--set train.lr=nan`
passed every schema bound (each comparison with NaN is false) and failed later with a traceback."""

from __future__ import annotations

import pytest

from l2l.config import resolve, with_overrides
from l2l.errors import UserError
from tests.inprocess import l2l


@pytest.mark.parametrize("override", ["train.lr=nan", "train.weight_decay=nan", "train.lr=inf",
                                      "train.weight_decay=-inf"])
def test_non_finite_overrides_are_refused_naming_the_key(override):
    key, value = override.split("=")
    with pytest.raises(UserError, match=rf"key {key} is {value}, not a finite number"):
        with_overrides(resolve({}), [override])


def test_non_finite_values_in_a_config_file_are_refused(tmp_path):
    (tmp_path / "run.yaml").write_text("train: {lr: .nan}\n")
    res = l2l("train", "--config", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "run"))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert f"{tmp_path / 'run.yaml'}: key train.lr is nan, not a finite number" in res.stderr
    assert not (tmp_path / "run").exists()
