"""GPU lease files no other user can aim, leases keyed by the card's physical id, bounded slots
(issue 23, items 2, 7, 17). No GPU here: the cards are simulated, the locks and folders are real."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest
import torch

from l2l import gpu_lease
from l2l.errors import UserError
from l2l.gpu_lease import GpuBusy, acquire, lease_for_run, try_acquire

UUID = "3f2a7c1e-0b9d-4e55-9a6b-1c2d3e4f5a6b"


def test_a_planted_symlink_never_gets_the_victims_file_overwritten(tmp_path):
    root, victim = tmp_path / "leases", tmp_path / "victim.txt"
    root.mkdir(mode=0o700)
    victim.write_text("precious\n")
    (root / "gpu0.slot0.lock").symlink_to(victim)
    with pytest.raises(UserError, match=r"gpu0\.slot0\.lock: GPU lock file is a symbolic link, refused; remove it"):
        try_acquire(["0"], 1, root)
    assert victim.read_text() == "precious\n"


def test_a_lease_folder_writable_by_others_is_refused(tmp_path):
    root = tmp_path / "leases"
    root.mkdir()
    os.chmod(root, 0o777)
    with pytest.raises(UserError, match=r"leases: GPU lease folder is writable by other users \(mode 777\)"):
        try_acquire(["0"], 1, root)
    assert not any(root.iterdir())


def test_a_lease_folder_owned_by_someone_else_is_refused(tmp_path, monkeypatch):
    root = gpu_lease.secure_dir(tmp_path / "leases")
    assert (os.lstat(root).st_mode & 0o777) == 0o700  # created private
    monkeypatch.setattr(gpu_lease.os, "getuid", lambda: os.lstat(root).st_uid + 1)  # as seen by another user
    with pytest.raises(UserError, match=r"GPU lease folder is owned by uid \d+, not by you \(uid \d+\), refused"):
        try_acquire(["0"], 1, root)


def test_a_lease_folder_that_is_a_link_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    (tmp_path / "leases").symlink_to(real)
    with pytest.raises(UserError, match="GPU lease folder is a link or not a folder, refused"):
        try_acquire(["0"], 1, tmp_path / "leases")


def _one_simulated_card(monkeypatch, tmp_path):
    monkeypatch.delenv("L2L_FAKE_GPUS", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv("L2L_GPU_LEASE_DIR", str(tmp_path / "leases"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid=UUID))


def test_one_card_under_two_names_is_one_lease(tmp_path, monkeypatch):
    _one_simulated_card(monkeypatch, tmp_path)
    said = []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with lease_for_run("auto", 1, log=said.append) as first:
        assert first.record() == {"gpu_lease": "0", "gpu_lease_slot": "1/1", "gpu_uuid": f"GPU-{UUID}"}
        assert first.path.name == f"gpuGPU-{UUID}.slot0.lock"
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"GPU-{UUID}")  # the same card, named by its UUID
        with pytest.raises(GpuBusy, match="all 1 GPU slots"):
            with lease_for_run("auto", 1, timeout_s=0.2, log=said.append):
                pass
    assert f"device 0 (GPU-{UUID}) slot 1/1" in said[0]


def test_runs_per_gpu_is_bounded(tmp_path):
    with pytest.raises(UserError, match=r"runs_per_gpu must be >= 1 and <= 64, got 200000"):
        acquire(["0"], 200000, tmp_path)
    assert not list(Path(tmp_path).glob("*.lock"))  # refused before 400,000 lock files


def test_the_schema_bounds_runs_per_gpu():
    import yaml

    from l2l.schema import validate_config

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    config.setdefault("resources", {})["runs_per_gpu"] = 200000
    with pytest.raises(UserError, match=r"config\.yaml: key resources\.runs_per_gpu must be <= 64, got 200000"):
        validate_config(config, "config.yaml")
