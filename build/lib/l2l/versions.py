"""Software and hardware a run used, recorded with every run.

The same code and seed give different numbers under another torch or CUDA version, so a table is
only reproducible together with the versions that produced it. Package versions come from
``importlib.metadata`` (no import of torch here); CUDA and GPU facts are read from torch only when
the caller has already imported it (the training job has).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

PACKAGES = ("l2l", "torch", "torchvision", "numpy", "pandas", "mlflow", "snakemake", "pillow", "scipy", "timm")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """``{"torch": "2.14.1", ...}`` for the installed packages among ``packages``."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, str]:
    """Machine, CPU count, and CUDA / cuDNN / GPU names when torch is loaded and sees a GPU."""
    out = {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": str(os.cpu_count())}
    torch = sys.modules.get("torch")
    if torch is None:
        return out
    out["torch_cuda"] = str(torch.version.cuda)
    if torch.cuda.is_available():
        out["cudnn"] = str(torch.backends.cudnn.version())
        out["gpus"] = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return out


def version_tags() -> dict[str, str]:
    """Flat MLflow tags: ``version.<package>`` and ``hardware.<key>``."""
    tags = {f"version.{k}": v for k, v in package_versions().items()}
    tags.update({f"hardware.{k}": v for k, v in hardware().items()})
    return tags
