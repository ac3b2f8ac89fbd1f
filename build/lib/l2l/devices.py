"""``train.device`` to a torch device, and what the run records about the device it really used.

``auto`` (the default) is CUDA when this process sees a GPU, else the CPU. The run config keeps the
word ``auto``, never the resolved device: the config fingerprint and the run folder are the same on a
laptop and on a GPU server, so a run is not trained twice because it moved between them (Snakemake sees
its outputs and skips it). What was actually used is recorded per run instead: ``device_used`` in
``metrics.json`` and as an MLflow tag, with the GPU lease (:mod:`l2l.gpu_lease`) where one was taken.
A CPU run and a GPU run of the same config are two samples of the same training, not the same numbers
(different kernels, bf16 autocast on CUDA); ``device_used`` says which one a table cell holds.
"""

from __future__ import annotations

import os

import torch

from l2l import gpu_lease
from l2l.errors import UserError


def resolve_device(name: str) -> torch.device:
    """The torch device of ``train.device`` (auto | cpu | cuda | cuda:<i>), on the leased GPU if any.

    With a lease the job trains on ``cuda:<ordinal>`` of the leased card and makes it the current device,
    so that nothing lands on cuda:0 by default. A fake lease (``L2L_FAKE_GPUS``, tests only) trains on
    the CPU on purpose: the tests check the assignment on machines without CUDA.
    """
    lease = gpu_lease.active()
    if lease is not None and lease.fake:
        return torch.device("cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UserError(f"train.device '{name}' is not a torch device ({e}); use auto, cpu, cuda or cuda:<index>") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"train.device is '{name}' but torch sees no CUDA GPU here (CUDA_VISIBLE_DEVICES="
                        f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); run where a GPU is allocated "
                        f"(the SLURM profile asks for one) or set train.device=cpu (or auto)")
    if device.type == "cuda" and device.index is None and lease is not None:
        device = torch.device("cuda", lease.ordinal)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    return device


def device_record(device: torch.device) -> dict[str, str]:
    """``device_used`` (and the GPU lease, if any): for metrics.json and the MLflow tags of the run."""
    out = {"device_used": str(device)}
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        out = {"device_used": f"cuda:{index}", "gpu_name": torch.cuda.get_device_name(index)}
    lease = gpu_lease.active()
    return {**out, **(lease.record() if lease else {})}
