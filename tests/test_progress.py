"""Progress: bars on a terminal (a pseudo-terminal here), a few plain lines in a log file."""

import fcntl
import os
import pty
import select
import struct
import re
import subprocess
import sys
import termios

from l2l.progress import progress

from inprocess import l2l


def test_without_a_bar_logs_evenly_spaced_milestones():
    lines = []
    assert list(progress(range(10), desc="work", unit="img", bar=False, log=lines.append)) == list(range(10))
    assert [line.split()[1] for line in lines] == ["2/10", "5/10", "8/10", "10/10"]
    assert all(line.startswith("work: ") and "img/s" in line for line in lines)
    silent = []
    assert list(progress(iter([1, 2]), bar=False, log=silent.append)) == [1, 2]  # no total: nothing to log
    assert silent == []


def test_without_a_bar_or_log_nothing_is_written(capsys):
    assert list(progress(range(5), desc="quiet", bar=False)) == list(range(5))
    assert capsys.readouterr() == ("", "")


def _run_on_a_terminal(args, timeout=300):
    """Run with stderr on a pseudo-terminal (what a person sees); return (rc, stdout, terminal output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a fresh pty is 0 columns wide
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, text=False)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            proc.kill()
            raise TimeoutError(args)
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read().decode()
    return proc.wait(), out, b"".join(chunks).decode(errors="replace")


def _l2l(*args):
    return [sys.executable, "-m", "l2l", *args]


def test_generate_draws_a_bar_on_a_terminal_and_logs_lines_otherwise(tmp_path):
    args = ["--n-train", "40", "--n-val", "8", "--n-test", "8"]
    rc, out, term = _run_on_a_terminal(_l2l("generate", "--out", str(tmp_path / "tty"), *args))
    assert rc == 0, term
    assert "write images" in term and "56/56" in term and "\r" in term  # a tqdm bar
    assert "write images:" not in out  # no milestone lines when a bar is drawn

    res = l2l("generate", "--out", str(tmp_path / "log"), *args)  # stderr is no terminal: a log
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout + res.stderr  # a log file gets no bar
    assert "write images: 56/56 img (100%" in res.stdout


def test_training_bar_on_a_terminal_epoch_lines_in_a_log(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    common = ["--set", f"data.path={tiny_dataset}", "--set", "method=fc_head", "--set", "train.epochs=2",
              "--set", "train.batch_size=16", "--set", f"tracking.uri=sqlite:///{tmp_path}/m.db"]
    rc, out, term = _run_on_a_terminal(_l2l("train", "--out", str(tmp_path / "tty"), *common))
    assert rc == 0, term
    assert "epoch 1/2" in term and "batch" in term and "\r" in term

    res = l2l("train", "--out", str(tmp_path / "log"), *common)  # stderr is no terminal: a log
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout + res.stderr
    # timestamped job-log lines (l2l/logs.py): "<ISO time> l2l.train INFO epoch 1/2 loss ..."
    epochs = [line.split(" INFO ", 1)[1] for line in res.stdout.splitlines() if " INFO epoch " in line]
    assert len(epochs) == 2
    first = next(line for line in res.stdout.splitlines() if " INFO epoch 1/2" in line)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} l2l.train INFO epoch 1/2 ", first), first
    for line in epochs:
        assert " loss " in line and " val_error " in line and " img/s " in line and " eta " in line
