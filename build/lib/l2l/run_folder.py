"""A finished run folder as a model: the one ``load_run`` of ``l2l predict``, attention maps and tools.

The model is rebuilt from the run's ``config.yaml`` (the resolved RunConfig) and its weights read
from ``model.pt`` with ``weights_only=True`` (:func:`l2l.checkpoint.load_checkpoint`): a crafted
file is refused with one line naming it, never executed. No ImageNet download, no MLflow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from l2l.checkpoint import load_checkpoint
from l2l.config import RunConfig, resolve
from l2l.engine import build_model
from l2l.errors import UserError
from l2l.io import read_yaml


@dataclass
class LoadedRun:
    """A run folder's model in eval mode, its resolved config and attribute names."""

    cfg: RunConfig
    model: torch.nn.Module
    attributes: list[str]
    prediction_key: str


def _read_run_config(cfg_path: Path) -> dict:
    """The run's config.yaml as a mapping (safe_load: a ``!!python/object`` tag is refused, not built)."""
    try:
        data = read_yaml(cfg_path)
    except yaml.YAMLError as e:
        raise UserError(f"{cfg_path}: not a valid run config ({' '.join(str(e).split())[:200]}); restore the run's "
                        f"config.yaml (l2l train writes it) or re-train the run") from e
    if not isinstance(data, dict):
        raise UserError(f"{cfg_path}: a run config must be a mapping of keys (method, model, train, ...); restore the "
                        f"run's config.yaml or re-train the run")
    return data


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """Rebuild the model of ``run_dir`` from config.yaml and load model.pt."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist; pass --run a folder with config.yaml and model.pt "
                        f"(e.g. results/<experiment>/runs/<dataset>/<backbone>/<method>/<variant>/<protocol>/seed<N>)")
    ckpt_path, cfg_path = run_dir / "model.pt", run_dir / "config.yaml"
    if not ckpt_path.is_file():
        raise UserError(f"{run_dir} has no model.pt (the run has not finished, or this is not a run folder); "
                        f"finish it with `snakemake --cores N all` or `l2l train`, or pass another --run")
    if not cfg_path.is_file():
        raise UserError(f"{run_dir} has model.pt but no config.yaml; restore the run's config.yaml "
                        f"(it records the architecture) or re-train the run")
    cfg = resolve(_read_run_config(cfg_path), str(cfg_path))
    # The weights come from the checkpoint: never fetch ImageNet weights here.
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=False))
    ckpt = load_checkpoint(ckpt_path, "re-train the run or restore model.pt from a trusted copy")
    try:
        attributes = list(ckpt["attributes"])
        model = build_model(cfg, len(attributes))
        model.load_state_dict(ckpt["model"])
    except UserError:
        raise
    except Exception as e:  # torch raises many types for a truncated or mismatched checkpoint
        raise UserError(f"{ckpt_path}: cannot be loaded with {cfg_path} ({type(e).__name__}: {e}); "
                        f"re-train the run or restore both files from the same run") from e
    model.to(torch.device(device)).eval()
    return LoadedRun(cfg=cfg, model=model, attributes=attributes, prediction_key=model.prediction_key)
