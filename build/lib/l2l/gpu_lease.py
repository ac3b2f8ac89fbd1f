"""Which GPU of this machine a local train job uses: a lease on a free (device, slot), held while it trains.

Snakemake's ``--resources gpu=N`` only counts jobs; it does not say which card a job should take. On a
server with G GPUs every train job therefore takes a *lease*: an exclusive ``fcntl.flock`` on one lock
file per (device, slot), ``runs_per_gpu`` slots per device (``resources.runs_per_gpu``). The job picks
the least-loaded device with a free slot, trains on it, and the lock goes when the process ends, however
it ends (the kernel drops a flock when the last descriptor of the file closes, so a killed job leaves
nothing to clean). The lease is recorded in the job log, in ``metrics.json`` and as MLflow tags.

Leases are per machine, not per results folder: two pipelines of one user on one server share the
cards correctly. A card is leased by its physical id (its UUID, from ``torch.cuda.get_device_properties``),
whatever ``CUDA_VISIBLE_DEVICES`` calls it: a job told ``0`` and one told ``GPU-<uuid>`` of the same card
compete for the same slots.

The lock files live in ``$L2L_GPU_LEASE_DIR`` (default ``/tmp/l2l-gpu-leases-<uid>``). ``/tmp`` is shared
with every local user, and a lock file is created and written, so the folder is checked before each use
(:func:`secure_dir`): created with mode 0700, it must be a real folder (not a link) owned by this user and
writable by nobody else, else the job stops with one line; the lock files are opened with ``O_NOFOLLOW``.
Otherwise another user could create the folder first with ``gpu0.slot0.lock -> <a file of yours>`` and
have your next GPU job overwrite that file.

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
import errno
import fcntl
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from l2l.errors import UserError

FAKE_ENV = "L2L_FAKE_GPUS"
DIR_ENV = "L2L_GPU_LEASE_DIR"
LEASED_DEVICES = ("auto", "cuda")  # device names that let the job take any card; cuda:<i> is pinned
MAX_RUNS_PER_GPU = 64  # slots per card: far above what fits in a GPU's memory; the lease probes each slot's file


class GpuBusy(UserError):
    """Every slot of every visible GPU stayed leased for the whole wait."""


@dataclass
class Lease:
    """One held (device, slot): ``gpu_id`` as CUDA_VISIBLE_DEVICES names it, ``ordinal`` as torch numbers it,
    ``key`` the physical id the lock file is named after (the card's UUID; ``gpu_id`` when unknown)."""

    gpu_id: str
    ordinal: int
    slot: int
    runs_per_gpu: int
    fake: bool
    path: Path
    fd: int
    key: str = ""

    def record(self) -> dict[str, str]:
        """What the run folder and MLflow keep about the lease (the slot counted from 1, as in the log)."""
        return {"gpu_lease": self.gpu_id, "gpu_lease_slot": f"{self.slot + 1}/{self.runs_per_gpu}",
                **({"gpu_uuid": self.key} if self.key and self.key != self.gpu_id else {}),
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


def physical_ids(ids: list[str]) -> list[str]:
    """The physical id of each visible card (``GPU-<uuid>``, by torch ordinal), or its name where torch has none."""
    import torch

    out = []
    for ordinal, name in enumerate(ids):
        uuid = str(getattr(torch.cuda.get_device_properties(ordinal), "uuid", "") or "")
        out.append(f"GPU-{uuid.removeprefix('GPU-')}" if uuid else name)
    return out


def secure_dir(root: Path) -> Path:
    """``root`` created (mode 0700) or checked: a folder, not a link, owned by this user, writable by no one else."""
    try:
        root.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    st, uid = os.lstat(root), os.getuid()
    fix = f"remove it (or set {DIR_ENV} to a folder only you can write) and re-run"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UserError(f"{root}: GPU lease folder is a link or not a folder, refused (lock files could be aimed "
                        f"at other files); {fix}")
    if st.st_uid != uid:
        raise UserError(f"{root}: GPU lease folder is owned by uid {st.st_uid}, not by you (uid {uid}), refused "
                        f"(its owner could aim the lock files at your files); {fix}")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UserError(f"{root}: GPU lease folder is writable by other users (mode {stat.S_IMODE(st.st_mode):o}), "
                        f"refused; `chmod 700 {root}`, or {fix}")
    return root


def _lock_path(root: Path, gpu_id: str, slot: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in gpu_id)
    return root / f"gpu{safe}.slot{slot}.lock"


def _try_lock(path: Path) -> int | None:
    try:  # never follow a link planted in the folder; a FIFO or device there is refused too
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise UserError(f"{path}: GPU lock file is a symbolic link, refused; remove it and re-run") from e
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{path}: GPU lock file is not a regular file, refused; remove it and re-run")
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
                owner: str = "", keys: list[str] | None = None) -> Lease | None:
    """A lease on a free slot of the least-loaded device (ties: the first in ``ids``), or None if all are busy.

    ``keys`` are the cards' physical ids (same order as ``ids``; default ``ids``): the lock files are
    named after them. Spreading over devices first means 4 jobs on 4 cards with k=2 get a card each,
    not two cards twice.
    """
    secure_dir(root)
    keys = list(keys or ids)
    for _ in range(3):  # another job may take the chosen slot between the probe and the lock: look again
        free = {i: _free_slots(root, keys[i], runs_per_gpu) for i in range(len(ids))}
        candidates = [i for i in range(len(ids)) if free[i]]
        if not candidates:
            return None
        i = max(candidates, key=lambda c: (len(free[c]), -c))
        slot = free[i][0]
        path = _lock_path(root, keys[i], slot)
        fd = _try_lock(path)
        if fd is not None:
            os.ftruncate(fd, 0)  # for a human looking at the folder: who holds it
            os.write(fd, f"pid {os.getpid()} host {socket.gethostname()} since {time.ctime()} {owner}\n".encode())
            return Lease(ids[i], i, slot, runs_per_gpu, fake, path, fd, keys[i])
    return None


def acquire(ids: list[str], runs_per_gpu: int, root: Path, fake: bool = False, owner: str = "",
            timeout_s: float | None = None, poll_s: float = 1.0,
            log: Callable[[str], None] = print, keys: list[str] | None = None) -> Lease:
    """Wait for a lease; None ``timeout_s`` waits for ever (Snakemake started more GPU jobs than slots)."""
    if not 1 <= runs_per_gpu <= MAX_RUNS_PER_GPU:
        raise UserError(f"resources.runs_per_gpu must be >= 1 and <= {MAX_RUNS_PER_GPU}, got {runs_per_gpu}; "
                        f"set it to the number of runs that fit on one GPU")
    start, last_said = time.monotonic(), None
    while True:
        lease = try_acquire(ids, runs_per_gpu, root, fake, owner, keys)
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


def _lease_ids(device: str) -> tuple[list[str], list[str], bool, str]:
    """(devices to lease from, their physical ids, fake?, why none) for this job's train.device."""
    if device not in LEASED_DEVICES:
        return [], [], False, f"train.device {device}: no GPU lease"
    if os.environ.get("SLURM_JOB_ID"):
        return [], [], False, "SLURM job: SLURM assigned its GPUs (CUDA_VISIBLE_DEVICES), no lease"
    fake = fake_gpu_ids()
    if fake is not None:
        return fake, fake, True, ""
    ids = cuda_gpu_ids()
    return ids, physical_ids(ids), False, "" if ids else f"train.device {device}: no CUDA GPU visible (so no GPU lease)"


@contextlib.contextmanager
def lease_for_run(device: str, runs_per_gpu: int = 1, owner: str = "", timeout_s: float | None = None,
                  log: Callable[[str], None] = print) -> Iterator[Lease | None]:
    """Hold this train job's GPU lease (or none, see the module docstring) for the body of the block."""
    global _active
    ids, keys, fake, why = _lease_ids(device)
    if not ids:
        if device in LEASED_DEVICES:
            log(why)
        yield None
        return
    lease = acquire(ids, runs_per_gpu, lease_dir(fake), fake, owner, timeout_s, log=log, keys=keys)
    where = "FAKE GPU (L2L_FAKE_GPUS testing hook): training on the CPU" if fake else f"cuda:{lease.ordinal}"
    name = lease.gpu_id if lease.key in ("", lease.gpu_id) else f"{lease.gpu_id} ({lease.key})"
    log(f"GPU lease: device {name} slot {lease.slot + 1}/{runs_per_gpu} of {len(ids)} device(s) "
        f"({lease.path}) -> {where}")
    _active = lease
    try:
        yield lease
    finally:
        _active = None
        lease.release()
