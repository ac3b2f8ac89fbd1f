"""`l2l ARGS` run by the CLI's own ``main`` inside the test process.

It returns what a subprocess would (exit code, stdout, stderr) without an interpreter start and a torch
import per call, which is most of a short command's cost. The process boundary itself (exit status, one
line on stderr, signals) keeps real-process tests: test_cli.py, test_resume.py, test_checkpoint_safety.py,
test_tracking_artifacts.py and the pipeline tests.
"""

import contextlib
import io
import subprocess

from l2l.cli import main


def l2l(*args: str) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return subprocess.CompletedProcess(["l2l", *args], rc, out.getvalue(), err.getvalue())
