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
    assert "key method must be one of fc_head" in res.stderr and "got 'mlp'" in res.stderr


def test_missing_dataset_is_a_clear_error(tmp_path):
    res = _l2l("train", "--out", str(tmp_path / "run"), "--set", f"data.path={tmp_path}/none",
               "--set", f"tracking.uri=sqlite:///{tmp_path}/m.db")
    assert res.returncode == 2
    assert "does not exist; run the prepare step" in res.stderr
    assert not (tmp_path / "m.db").exists()  # failed before any MLflow run was created


def test_every_command_has_a_description_and_examples():
    from l2l.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and "train" in a.choices)
    top = " ".join(_l2l("--help").stdout.split())
    descriptions = {a.dest: a.help for a in sub._choices_actions}
    for name in sub.choices:
        assert descriptions.get(name), f"{name} has no one-line description"
        assert f"{name} {' '.join(descriptions[name].split())}" in top, name
        help_text = sub.choices[name].format_help()  # what `l2l NAME --help` prints
        assert "examples:" in help_text and f"l2l {name} " in help_text.split("examples:")[1], name
    assert "predict" in sub.choices


def test_usage_errors_are_one_line_naming_the_fix():
    for args in (("train",), ("nope",), ("predict", "--run", "x"), ()):
        res = _l2l(*args)
        assert res.returncode == 2, args
        assert res.stderr.strip().count("\n") == 0, res.stderr
        assert "--help" in res.stderr


def test_a_reader_that_leaves_early_gets_no_error_message():
    """`l2l resolve ... | head`: the pipe closes before l2l writes; it printed "Broken pipe; check
    permissions there" (the OSError branch) and a second error at exit."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "l2l", "resolve", "--dataset", "embedded"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first byte
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and err == "", err
