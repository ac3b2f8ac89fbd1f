"""A real MLflow server (`mlflow server` or `mlflow ui`) on a free 127.0.0.1 port, always terminated."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_answers(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[3:5]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{proc.args[3:5]} did not answer {url} in {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the server's whole process group (uvicorn and its workers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@contextlib.contextmanager
def mlflow_server(command: str, backend_uri: str, log: Path, *extra: str, timeout: float = 180) -> Iterator[str]:
    """Run `mlflow COMMAND` (one worker) against ``backend_uri``; yield its URL once /health answers.

    No telemetry, and no job execution: that feature (GenAI jobs, unused here) starts a job runner and six
    huey consumer processes per server."""
    url = f"http://127.0.0.1:{_free_port()}"
    cmd = [sys.executable, "-m", "mlflow", command, "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1],
           "--workers", "1", "--backend-store-uri", backend_uri, *extra]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=log.parent, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        _wait_until_answers(f"{url}/health", proc, log, timeout)
        yield url
    finally:
        _stop(proc)
