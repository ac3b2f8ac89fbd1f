"""kill -9 of a whole `snakemake` run (an OOM kill, a closed session, a crashed login node): the README's
recovery, `snakemake --unlock` with the same options and then the same command, finishes the run
(issue 13 item 10; before, "run the same command again" failed with a LockException)."""

import os
import signal
import subprocess
import time

import pytest

from pipelines import one_run_pipeline


@pytest.mark.slow
def test_sigkilled_snakemake_recovers_with_unlock_then_the_same_command(tmp_path):
    cmd, env, run_dir, log = one_run_pipeline(tmp_path, "kill9", n_train=64, epochs=2, ffn_dim=16, n_eval=16)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    t0 = time.time()
    while not log.exists():  # the train job has started: Snakemake holds its locks
        assert proc.poll() is None and time.time() - t0 < 300, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its job, with no chance to clean up
    proc.communicate(timeout=60)
    assert list((tmp_path / ".snakemake" / "locks").iterdir()), "the kill left no lock: nothing reproduced"

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode != 0 and "LockException" in again.stdout + again.stderr  # the fault, as reported

    unlock = subprocess.run([*cmd, "--unlock"], capture_output=True, text=True, env=env, timeout=300)
    assert unlock.returncode == 0, unlock.stdout[-3000:] + unlock.stderr[-3000:]
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert (run_dir / "metrics.json").is_file() and (tmp_path / "results" / "kill9" / "table.csv").is_file()
