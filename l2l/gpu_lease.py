"""Which GPU of this machine a local train job uses: a lease on a free (device, slot), held while it trains.

Snakemake's ``--resources gpu=N`` only counts jobs; it does not say which card a job should take. On a
server with G GPUs every train job therefore takes a *lease*: an exclusive ``fcntl.flock`` on one lock
file per (device, slot), ``runs_per_gpu`` slots per device (``resources.runs_per_gpu``). The job picks
the least-loaded device with a free slot, trains on it, and the lock goes when the process ends, however
it ends (the kernel drops a flock when the last descriptor of the file closes, so a killed job leaves
nothing to clean). The lease is recorded in the job log, in ``metrics.json`` and as MLflow tags.

Leases are per machine, not per results folder: two pipelines of one user on one server share the
cards correctly. The lock files live in ``$L2L_GPU_LEASE_DIR`` (default ``/tmp/l2l-gpu-leases-<uid>``).

No lease is taken when SLURM runs the job (``SLURM_JOB_ID`` set: SLURM has already given the job its
GPUs through ``CUDA_VISIBLE_DEVICES``), when ``train.device`` names a device index (``cuda:1``: the user
chose) or ``cpu``, or when this machine has no GPU.

Testing hook, for tests only: ``L2L_FAKE_GPUS=N`` makes this module see N devices (``0`` .. ``N-1``)
without CUDA; a job leases one of them exactly as above, but trains on the CPU
(:func:`l2l.devices.resolve_device`) and records ``gpu_fake=true`` beside the leased index, so a
pipeline test on a machine without GPUs can check which job got which device.

This module imports no torch at import time: Snakemake's rule files use :func:`gpus_per_job`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from l2l.errors import UserError

FAKE_ENV = "L2L_FAKE_GPUS"
DIR_ENV = "L2L_GPU_LEASE_DIR"
LEASED_DEVICES = ("auto", "cuda")  # device names that let the job take any card; cuda:<i> is pinned


class GpuBusy(UserError):
    """Every slot of every visible GPU stayed leased for the whole wait."""


@dataclass
class Lease:
    """One held (device, slot): ``gpu_id`` as CUDA_VISIBLE_DEVICES names it, ``ordinal`` as torch numbers it."""

    gpu_id: str
    ordinal: int
    slot: int
    runs_per_gpu: int
    fake: bool
    path: Path
    fd: int

    def record(self) -> dict[str, str]:
        """What the run folder and MLflow keep about the lease (the slot counted from 1, as in the log)."""
        return {"gpu_lease": self.gpu_id, "gpu_lease_slot": f"{self.slot + 1}/{self.runs_per_gpu}",
                **({"gpu_fake": "true"} if self.fake else {})}

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


_active: Lease | None = None


def active() -> Lease | None:
    """The lease this process holds (inside :func:`lease_for_run`), else None."""
    return _active


def gpus_per_job(device: str) -> int:
    """The train rule's ``gpu`` resource: 1 for a device that may be a GPU (auto, cuda, cuda:<i>), else 0.

    Locally ``--resources gpu=G*k`` then lets G*k train jobs run at once (k = resources.runs_per_gpu);
    on SLURM it is the job's ``--gpus=1``.
    """
    return 1 if device == "auto" or device.startswith("cuda") else 0


def lease_dir(fake: bool = False) -> Path:
    """Where the lock files live: $L2L_GPU_LEASE_DIR, else a per-user folder in /tmp (machine-local)."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV])
    return Path("/tmp") / f"l2l-gpu-leases-{os.getuid()}{'-fake' if fake else ''}"


def fake_gpu_ids() -> list[str] | None:
    """The simulated device list of ``L2L_FAKE_GPUS=N`` (testing hook), or None when unset."""
    raw = os.environ.get(FAKE_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise UserError(f"{FAKE_ENV}={raw!r} must be a number of simulated GPUs (testing hook); unset it")
    return [str(i) for i in range(int(raw))]


def cuda_gpu_ids() -> list[str]:
    """The GPUs this process may use, named as CUDA_VISIBLE_DEVICES names them (indices or UUIDs)."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [str(i) for i in range(n)]
    return [v.strip() for v in visible.split(",") if v.strip()][:n]


def _lock_path(root: Path, gpu_id: str, slot: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in gpu_id)
    return root / f"gpu{safe}.slot{slot}.lock"


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _free_slots(root: Path, gpu_id: str, k: int) -> list[int]:
    """Slots of one device nobody holds right now (probed: locked and released at once)."""
    free = []
    for slot in range(k):
        fd = _try_lock(_lock_path(root, gpu_id, slot))
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            free.append(slot)
    return free


def try_acquire(ids: list[str], runs_per_gpu: int, root: Path, fake: bool = False,
                owner: str = "") -> Lease | None:
    """A lease on a free slot of the least-loaded device (ties: the first in ``ids``), or None if all are busy.

    Spreading over devices first means 4 jobs on 4 cards with k=2 get a card each, not two cards twice.
    """
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # another job may take the chosen slot between the probe and the lock: look again
        free = {gpu_id: _free_slots(root, gpu_id, runs_per_gpu) for gpu_id in ids}
        candidates = [g for g in ids if free[g]]
        if not candidates:
            return None
        gpu_id = max(candidates, key=lambda g: (len(free[g]), -ids.index(g)))
        slot = free[gpu_id][0]
        path = _lock_path(root, gpu_id, slot)
        fd = _try_lock(path)
        if fd is not None:
            os.ftruncate(fd, 0)  # for a human looking at the folder: who holds it
            os.write(fd, f"pid {os.getpid()} host {socket.gethostname()} since {time.ctime()} {owner}\n".encode())
            return Lease(gpu_id, ids.index(gpu_id), slot, runs_per_gpu, fake, path, fd)
    return None


def acquire(ids: list[str], runs_per_gpu: int, root: Path, fake: bool = False, owner: str = "",
            timeout_s: float | None = None, poll_s: float = 1.0,
            log: Callable[[str], None] = print) -> Lease:
    """Wait for a lease; None ``timeout_s`` waits for ever (Snakemake started more GPU jobs than slots)."""
    if runs_per_gpu < 1:
        raise UserError(f"resources.runs_per_gpu must be >= 1, got {runs_per_gpu}")
    start, last_said = time.monotonic(), None
    while True:
        lease = try_acquire(ids, runs_per_gpu, root, fake, owner)
        if lease is not None:
            return lease
        waited = time.monotonic() - start
        busy = (f"all {len(ids) * runs_per_gpu} GPU slots ({len(ids)} device(s) x {runs_per_gpu} run(s) per GPU) "
                f"are leased (lock files in {root})")
        if timeout_s is not None and waited >= timeout_s:
            raise GpuBusy(f"{busy} for {waited:.0f} s; start at most devices x resources.runs_per_gpu GPU jobs "
                          f"at once (snakemake --resources gpu={len(ids) * runs_per_gpu})")
        if last_said is None or time.monotonic() - last_said >= 600:
            log(f"{busy}; waiting for one (run snakemake with --resources gpu={len(ids) * runs_per_gpu} "
                f"so that it never starts more GPU jobs than slots)")
            last_said = time.monotonic()
        time.sleep(poll_s)


def _lease_ids(device: str) -> tuple[list[str], bool, str]:
    """(devices to lease from, fake?, why none) for this job's train.device."""
    if device not in LEASED_DEVICES:
        return [], False, f"train.device {device}: no GPU lease"
    if os.environ.get("SLURM_JOB_ID"):
        return [], False, "SLURM job: SLURM assigned its GPUs (CUDA_VISIBLE_DEVICES), no lease"
    fake = fake_gpu_ids()
    if fake is not None:
        return fake, True, ""
    ids = cuda_gpu_ids()
    return ids, False, "" if ids else f"train.device {device}: no CUDA GPU visible (so no GPU lease)"


@contextlib.contextmanager
def lease_for_run(device: str, runs_per_gpu: int = 1, owner: str = "", timeout_s: float | None = None,
                  log: Callable[[str], None] = print) -> Iterator[Lease | None]:
    """Hold this train job's GPU lease (or none, see the module docstring) for the body of the block."""
    global _active
    ids, fake, why = _lease_ids(device)
    if not ids:
        if device in LEASED_DEVICES:
            log(why)
        yield None
        return
    lease = acquire(ids, runs_per_gpu, lease_dir(fake), fake, owner, timeout_s, log=log)
    where = "FAKE GPU (L2L_FAKE_GPUS testing hook): training on the CPU" if fake else f"cuda:{lease.ordinal}"
    log(f"GPU lease: device {lease.gpu_id} slot {lease.slot + 1}/{runs_per_gpu} of {len(ids)} device(s) "
        f"({lease.path}) -> {where}")
    _active = lease
    try:
        yield lease
    finally:
        _active = None
        lease.release()
