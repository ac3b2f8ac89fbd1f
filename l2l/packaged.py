"""The config schema and the default experiment config, shipped inside the package (package data).

``l2l/defaults/`` holds the one schema (``config.schema.yaml``) and the experiment config the
Snakefile reads (``config.yaml``, ``paper_datasets.yaml``, ``tables.yaml``, ``field.yaml``); they are read through
:mod:`importlib.resources`, so an installed l2l (``pip install .``, no checkout) validates and
resolves configs. The workflow's copies (``workflow/schemas/config.schema.yaml``, ``config/*.yaml``,
where Snakemake and users look for them) are written from these by ``python -m l2l.packaged REPO``;
``tests/test_packaged.py`` checks that they are equal. Torch-free.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

from l2l.errors import UserError

# packaged file -> its copy in a checkout of the workflow
COPIES = {
    "config.schema.yaml": "workflow/schemas/config.schema.yaml",
    "config.yaml": "config/config.yaml",
    "paper_datasets.yaml": "config/paper_datasets.yaml",
    "tables.yaml": "config/tables.yaml",
    "field.yaml": "config/field.yaml",  # the field's datasets, recipes and suite (issue 25, docs/field.md)
    # the measured figures the per-run resource estimates use (l2l/plan/resources.py); benchmarks write the
    # checkout's copy, and a new measurement is copied here (tests/test_packaged.py checks they are equal)
    "benchmarks/gpu.json": "results/benchmarks/gpu.json",
    "benchmarks/host_memory.json": "results/benchmarks/host_memory.json",
    "benchmarks/host_memory_small_cnn.json": "results/benchmarks/host_memory_small_cnn.json",
    "benchmarks/host_memory_small_cnn_wide.json": "results/benchmarks/host_memory_small_cnn_wide.json",
}


def text(name: str) -> str:
    """The text of a packaged file (a name of :data:`COPIES`)."""
    if name not in COPIES and not (name.startswith("benchmarks/") and has(name)):
        raise ValueError(f"no packaged file '{name}'; l2l ships {', '.join(COPIES)}")
    try:
        return resources.files("l2l").joinpath("defaults", *name.split("/")).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise UserError(f"l2l/defaults/{name} is missing from the installed package; reinstall l2l") from e


def has(name: str) -> bool:
    """Whether l2l ships ``name`` (also an optional measurement, e.g. ``benchmarks/host_memory_cuda.json``)."""
    return resources.files("l2l").joinpath("defaults", *name.split("/")).is_file()


def load_yaml(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(text(name)) or {}


def write_copies(repo: str | Path) -> list[Path]:
    """Write the workflow's copies of the packaged files under ``repo``; the paths that changed."""
    changed = []
    for name, copy in COPIES.items():
        path = Path(repo) / copy
        if not path.is_file() or path.read_text(encoding="utf-8") != text(name):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(name), encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    print("\n".join(f"wrote {p}" for p in write_copies(root)) or "copies up to date")
