"""`l2l aggregate` on a broken run folder: one line naming the file and the fix, exit 2 (issue 23, item 11):
a truncated or empty metrics.json was a JSONDecodeError traceback naming no file, `{"test": {}}` a KeyError."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.inprocess import l2l


def _run(root, metrics_text, config=None):
    run = root / "runs" / "emb" / "small_cnn" / "label2label" / "base" / "seed0"
    run.mkdir(parents=True)
    cfg = config if config is not None else yaml.safe_dump(
        {"method": "label2label", "backbone": "small_cnn", "seed": 0, "data": {"path": "data/emb"}})
    (run / "config.yaml").write_text(cfg)
    (run / "metrics.json").write_text(metrics_text)
    return run / "metrics.json"


GOOD = json.dumps({"test": {"error": 10.0, "mA": 80.0}, "selected_epoch": 1})


@pytest.mark.parametrize("text, says", [
    ('{"test": {"error": 1', "not a valid metrics file (JSONDecodeError"),  # truncated
    ("", "not a valid metrics file (JSONDecodeError"),                      # empty
    ('{"test": {}}', "has no numeric test error (key test.error)"),
    ("[1, 2]", "has no numeric test error"),
    ('{"test": {"error": 1.0}, "test_per_metric": [1]}', "test_per_metric is not a mapping"),
])
def test_a_broken_metrics_json_is_one_line_naming_it(tmp_path, text, says):
    path = _run(tmp_path, text)
    res = l2l("aggregate", "--metrics", str(path), "--out-dir", str(tmp_path / "table"))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert f"{path}: {says}" in res.stderr and "delete the run's metrics.json and re-run it" in res.stderr


@pytest.mark.parametrize("config", ["method: [unclosed\n", "- a list\n", "method: x\n"])
def test_a_broken_config_yaml_beside_it_is_one_line_naming_it(tmp_path, config):
    path = _run(tmp_path, GOOD, config)
    res = l2l("aggregate", "--metrics", str(path), "--out-dir", str(tmp_path / "table"))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert f"{path.parent / 'config.yaml'}: not a run config" in res.stderr
