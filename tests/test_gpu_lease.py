"""GPU leases of local train jobs (l2l/gpu_lease.py) and train.device auto (l2l/devices.py), without a GPU:
the device lists are simulated, the locks are real fcntl locks, the killed holder is a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from l2l import gpu_lease
from l2l.config import RunConfig, resolve
from l2l.devices import device_record, resolve_device
from l2l.errors import UserError
from l2l.gpu_lease import GpuBusy, acquire, gpus_per_job, lease_for_run, try_acquire

from helpers import REPO

IDS4 = ["0", "1", "2", "3"]


def _release(leases) -> None:
    for lease in leases:
        lease.release()


def test_each_job_gets_its_own_device_until_all_are_taken(tmp_path):
    leases = [try_acquire(IDS4, 1, tmp_path) for _ in range(4)]
    try:
        assert [lease.gpu_id for lease in leases] == IDS4 and [lease.ordinal for lease in leases] == [0, 1, 2, 3]
        assert try_acquire(IDS4, 1, tmp_path) is None  # one slot per card: a fifth job gets nothing
        with pytest.raises(GpuBusy, match=r"all 4 GPU slots .* --resources gpu=4"):
            acquire(IDS4, 1, tmp_path, timeout_s=0.3, poll_s=0.1, log=lambda m: None)
        leases[2].release()
        again = try_acquire(IDS4, 1, tmp_path)
        assert again.gpu_id == "2"  # the released card is the free one
        again.release()
    finally:
        _release(leases)


def test_runs_per_gpu_spreads_over_cards_then_fills_them(tmp_path):
    leases = [try_acquire(["0", "1"], 2, tmp_path) for _ in range(4)]
    try:
        assert [(lease.gpu_id, lease.slot) for lease in leases] == [("0", 0), ("1", 0), ("0", 1), ("1", 1)]
        assert try_acquire(["0", "1"], 2, tmp_path) is None
        leases[1].release()  # card 1 has one run now, card 0 two: the next job goes to card 1
        nxt = try_acquire(["0", "1"], 2, tmp_path)
        assert (nxt.gpu_id, nxt.slot) == ("1", 0)
        assert nxt.record() == {"gpu_lease": "1", "gpu_lease_slot": "1/2"}
        nxt.release()
    finally:
        _release(leases)
    with pytest.raises(UserError, match="runs_per_gpu must be >= 1"):
        acquire(["0"], 0, tmp_path)


HOLDER = """
import sys, time
from pathlib import Path
from l2l.gpu_lease import try_acquire
lease = try_acquire(["0"], 1, Path(sys.argv[1]))
print(lease.gpu_id, flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(root: Path, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), str(seconds)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "0"  # the other process holds card 0 now
    return proc


def test_a_killed_job_releases_its_lease(tmp_path):
    proc = _holder(tmp_path, 60)
    try:
        assert try_acquire(["0"], 1, tmp_path) is None
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup code runs: the kernel drops the flock
        proc.wait(timeout=30)
        lease = try_acquire(["0"], 1, tmp_path)
        assert lease is not None and lease.gpu_id == "0"
        lease.release()
    finally:
        proc.kill()
        proc.wait()


def test_a_job_waits_for_a_busy_card_and_says_so(tmp_path):
    proc = _holder(tmp_path, 1.5)
    said = []
    t = time.monotonic()
    lease = acquire(["0"], 1, tmp_path, timeout_s=60, poll_s=0.2, log=said.append)
    try:
        assert time.monotonic() - t > 0.5 and lease.gpu_id == "0"
        assert len(said) == 1 and "waiting for one" in said[0] and "--resources gpu=1" in said[0]
    finally:
        lease.release()
        proc.wait(timeout=30)


def test_fake_gpus_lease_a_device_and_train_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("L2L_FAKE_GPUS", "2")
    monkeypatch.setenv("L2L_GPU_LEASE_DIR", str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    said = []
    with lease_for_run("auto", 1, log=said.append) as first, lease_for_run("auto", 1, log=said.append) as second:
        assert (first.gpu_id, second.gpu_id) == ("0", "1") and first.fake
        assert gpu_lease.active() is second
        assert resolve_device("auto") == torch.device("cpu")  # fake mode never touches CUDA
        assert device_record(torch.device("cpu")) == {"device_used": "cpu", "gpu_lease": "1",
                                                      "gpu_lease_slot": "1/1", "gpu_fake": "true"}
    assert gpu_lease.active() is None
    assert "GPU lease: device 0 slot 1/1 of 2 device(s)" in said[0] and "FAKE GPU" in said[0]
    assert try_acquire(["0", "1"], 1, tmp_path).gpu_id == "0"  # both released on leaving the blocks


@pytest.mark.parametrize("device, env, message", [
    ("auto", {"SLURM_JOB_ID": "42"}, "SLURM job"),
    ("cpu", {}, None),
    ("cuda:1", {}, None),
])
def test_no_lease_under_slurm_or_for_a_pinned_device(tmp_path, monkeypatch, device, env, message):
    monkeypatch.setenv("L2L_FAKE_GPUS", "2")
    monkeypatch.setenv("L2L_GPU_LEASE_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    said = []
    with lease_for_run(device, 1, log=said.append) as lease:
        assert lease is None and gpu_lease.active() is None
    assert (message in said[0]) if message else said == []


def test_no_gpu_no_lease_and_auto_is_the_cpu(monkeypatch):
    monkeypatch.delenv("L2L_FAKE_GPUS", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    said = []
    with lease_for_run("auto", 1, log=said.append) as lease:
        assert lease is None
    assert said == ["train.device auto: no CUDA GPU visible (so no GPU lease)"]
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(UserError, match="train.device is 'cuda' but torch sees no CUDA GPU"):
        resolve_device("cuda")


def test_bad_fake_gpu_list_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("L2L_FAKE_GPUS", "two")
    with pytest.raises(UserError, match="L2L_FAKE_GPUS='two' must be a number"):
        gpu_lease.fake_gpu_ids()


def test_auto_is_the_default_and_stays_in_the_config():
    """The run folder and fingerprint do not depend on the machine: the config keeps 'auto'."""
    cfg = resolve({})
    assert cfg.train.device == "auto" and RunConfig().train.device == "auto"
    assert cfg.to_dict()["train"]["device"] == "auto"
    assert resolve({"train": {"device": "auto"}}).fingerprint() == cfg.fingerprint()
    assert [gpus_per_job(d) for d in ("auto", "cuda", "cuda:3", "cpu")] == [1, 1, 1, 0]
