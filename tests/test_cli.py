import subprocess
import sys


def _l2l(*args):
    return subprocess.run([sys.executable, "-m", "l2l", *args], capture_output=True, text=True)


def test_help_lists_commands():
    out = _l2l("--help").stdout
    for cmd in ("generate", "train", "init-tracking", "aggregate"):
        assert cmd in out


def test_bad_config_exits_nonzero_with_one_line(tmp_path):
    res = _l2l("train", "--out", str(tmp_path / "run"), "--set", "method=mlp")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "unknown method 'mlp'" in res.stderr


def test_missing_dataset_is_a_clear_error(tmp_path):
    res = _l2l("train", "--out", str(tmp_path / "run"), "--set", f"data.path={tmp_path}/none",
               "--set", f"tracking.uri=sqlite:///{tmp_path}/m.db")
    assert res.returncode == 2
    assert "does not exist; run the prepare step" in res.stderr
    assert not (tmp_path / "m.db").exists()  # failed before any MLflow run was created
