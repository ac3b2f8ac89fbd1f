"""One training loop for every method: train, select the epoch, test, write the run folder.

The methods differ only in the head; the head says which outputs it produces and
how much each output's BCE weighs (``loss_weights``), so this loop never branches
on the method name.

Run folder (``out_dir``)::

    config.yaml    the resolved RunConfig (enough, with the code version, to reproduce the run)
    history.csv    one row per epoch: train loss, val metrics, lr, images/s
    metrics.json   test metrics of the selected epoch, selection info, MLflow run id
    model.pt       weights of the selected epoch
    resume.ckpt    last finished epoch (removed on success): a killed job resumes from it
"""

from __future__ import annotations

import copy
import math
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from l2l import metrics as M
from l2l.config import RunConfig
from l2l.data import PreparedDataset, load_prepared
from l2l.data.loader import AttributeImageDataset
from l2l.errors import UserError
from l2l.io import atomic_write, write_json, write_yaml
from l2l.models import create_model
from l2l.tracking import Tracker, git_commit, resolve_uri

HIGHER_IS_BETTER = {"mA", "accuracy", "precision", "recall", "f1", "f1_of_means"}


class Preempted(Exception):
    """SIGTERM/SIGUSR1 arrived: the last finished epoch is checkpointed, the job exits non-zero."""


class NonFiniteLoss(Exception):
    """The loss became NaN/inf: the run stops, marked FAILED, with the last good checkpoint kept."""


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None = None,
               neg_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE over known labels (label -1 = unknown contributes nothing), optionally weighted."""
    known = labels >= 0
    target = labels.clamp(min=0)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if pos_weight is not None:
        loss = loss * torch.where(target > 0, pos_weight, neg_weight)
    return (loss * known).sum() / known.sum().clamp(min=1)


def pa100k_weights(positive_rate: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard PA weighting: exp(1 - r_j) on positives, exp(r_j) on negatives."""
    r = torch.as_tensor(positive_rate, dtype=torch.float32)
    return torch.exp(1 - r), torch.exp(r)


def build_model(cfg: RunConfig, num_attributes: int) -> torch.nn.Module:
    m = cfg.model
    try:
        return create_model(
            cfg.method, cfg.backbone, num_attributes, pretrained=m.pretrained, projection_dim=m.projection_dim,
            aqn_layers=m.aqn_layers, mlm_layers=m.mlm_layers, num_heads=m.num_heads, ffn_dim=m.ffn_dim,
            dropout=m.dropout, mask_ratio=m.mask_ratio, mask_strategy=m.mask_strategy, mlm_weight=m.mlm_weight,
        )
    except ValueError as e:
        raise UserError(str(e)) from e


def load_stage_one(cfg: RunConfig, model: torch.nn.Module) -> None:
    """Two-stage methods (Table 7): load and freeze the AQN run named by ``model.init_from``."""
    from l2l.models.two_stage import init_from_stage_one

    path = Path(cfg.model.init_from)
    if not path.is_file():
        raise UserError(f"{path}: model.init_from names no file; train the AQN run first (Snakemake does)")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("config", {}).get("method") != "aqn":
        raise UserError(f"{path}: model.init_from must be an AQN run's model.pt, "
                        f"got a {ckpt.get('config', {}).get('method')} run")
    try:
        init_from_stage_one(model, ckpt["model"])
    except ValueError as e:
        raise UserError(f"{path}: {e}") from e


def build_optimizer(cfg: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    t = cfg.train
    backbone = list(model.backbone.parameters())
    ids = {id(p) for p in backbone}
    heads = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": backbone, "lr": t.lr}, {"params": heads, "lr": t.head_lr or t.lr}]
    if t.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    return torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay)


def build_scheduler(cfg: RunConfig, optimizer: torch.optim.Optimizer):
    t = cfg.train
    if t.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs)
    if t.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=t.plateau_patience)
    return None


def _loader(ds: AttributeImageDataset, cfg: RunConfig, train: bool, generator: torch.Generator | None = None):
    t = cfg.train
    return DataLoader(ds, batch_size=t.batch_size if train else t.eval_batch_size, shuffle=train,
                      generator=generator, num_workers=t.num_workers, drop_last=False,
                      pin_memory=t.device.startswith("cuda"))


@torch.no_grad()
def predict(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Probabilities of every head output, and labels, for a whole split."""
    model.eval()
    probs: dict[str, list[torch.Tensor]] = {}
    labels = []
    for images, y in loader:
        for k, v in model(images.to(device)).items():
            probs.setdefault(k, []).append(torch.sigmoid(v.float()).cpu())
        labels.append(y)
    return {k: torch.cat(v).numpy() for k, v in probs.items()}, torch.cat(labels).numpy().astype(np.int8)


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device, data: PreparedDataset) -> dict[str, Any]:
    """Metrics of the final prediction; for multi-output heads also the error of each other output."""
    probs, labels = predict(model, loader, device)
    out = M.compute_metrics(probs[model.prediction_key], labels, data.attributes, data.groups)
    for key, p in probs.items():
        if key != model.prediction_key:
            out[f"{key}_error"] = M.mean_error((p > 0.5).astype(np.int8), labels)
    return out


def train_one_epoch(model, loader, optimizer, device, pos_w, neg_w, grad_clip: float | None) -> float:
    model.train()
    total, count = torch.zeros((), device=device), 0
    weights = model.loss_weights
    for images, y in loader:
        images, y = images.to(device, non_blocking=True), y.to(device, non_blocking=True)
        outputs = model(images)
        loss = sum(w * masked_bce(outputs[k], y, pos_w, neg_w) for k, w in weights.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total += loss.detach() * len(y)  # accumulated on device: no host sync per step
        count += len(y)
    return float(total) / max(count, 1)


def _is_better(value: float, best: float | None, metric: str) -> bool:
    if best is None:
        return True
    return value > best if metric in HIGHER_IS_BETTER else value < best


class _SignalGuard:
    """Turn SIGTERM/SIGUSR1 (SLURM preemption, Snakemake abort) into a flag checked between epochs."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_SignalGuard":
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _state(model, optimizer, scheduler, epoch, history, best, run_id, fingerprint) -> dict[str, Any]:
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler else None, "epoch": epoch,
            "history": history, "best": best, "run_id": run_id, "fingerprint": fingerprint}


def _load_resume(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("fingerprint") != fingerprint:
        raise UserError(f"{path}: checkpoint belongs to a different config (fingerprint "
                        f"{ckpt.get('fingerprint')} != {fingerprint}); delete it to start over")
    return ckpt


def train(cfg: RunConfig, out_dir: str | Path, tags: Mapping[str, str] | None = None,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train one run end to end (resuming from ``resume.ckpt`` if present) and write the run folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.train.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device(cfg.train.device)
    data = load_prepared(cfg.data.path)
    write_yaml(out_dir / "config.yaml", cfg.to_dict())

    seed_everything(cfg.seed)
    model = build_model(cfg, len(data.attributes))
    if cfg.model.init_from:
        load_stage_one(cfg, model)
    model = model.to(device)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    pos_w = neg_w = None
    if cfg.train.loss_weighting == "pa100k":
        pos_w, neg_w = (w.to(device) for w in pa100k_weights(data.positive_rate(cfg.data.train_splits)))

    size, aug = cfg.data.image_size, cfg.data.augment
    preload = len(data.images) <= 20000 and size[0] * size[1] <= 64 * 64
    train_ds = AttributeImageDataset(data, cfg.data.train_splits, size, aug, train=True, preload=preload)
    eval_sets = {"test": AttributeImageDataset(data, cfg.data.test_split, size, preload=preload)}
    if cfg.data.val_split:
        eval_sets["val"] = AttributeImageDataset(data, cfg.data.val_split, size, preload=preload)
    eval_loaders = {k: _loader(v, cfg, train=False) for k, v in eval_sets.items()}
    select_split = {"best_val": "val", "best_test": "test", "last": None}[cfg.train.selection]
    select_metric = "error"

    resume_path = out_dir / "resume.ckpt"
    fingerprint = cfg.fingerprint()
    ckpt = _load_resume(resume_path, fingerprint)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"value": None, "epoch": None, "state": None}
    start_epoch, run_id = 0, None
    if ckpt:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler and ckpt["scheduler"]:
            scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, history, best, run_id = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"], ckpt["run_id"]
        log(f"resuming from {resume_path} at epoch {start_epoch + 1}/{cfg.train.epochs}")

    uri = resolve_uri(cfg.tracking.uri)
    run_tags = {"dataset": data.name, "dataset_sha256": data.meta.get("labels_sha256", ""),
                "method": cfg.method, "backbone": cfg.backbone, "seed": str(cfg.seed),
                "git_commit": git_commit(), "config_fingerprint": fingerprint, "selection": cfg.train.selection,
                **({"leaky_selection": "true"} if cfg.train.selection == "best_test" else {}),
                **cfg.tracking.tags, **(tags or {})}
    run_name = tags.get("run_name") if tags and "run_name" in tags else \
        f"{data.name}/{cfg.method}/{cfg.backbone}/seed{cfg.seed}"
    tracker = Tracker.start(uri, cfg.tracking.experiment, run_name, run_tags, cfg.flat_params(), run_id=run_id)

    t0 = time.time()
    try:
        with _SignalGuard() as guard:
            for epoch in range(start_epoch, cfg.train.epochs):
                torch.manual_seed(cfg.seed * 100003 + epoch)  # resume-exact: RNG depends only on (seed, epoch)
                gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
                te = time.time()
                loss = train_one_epoch(model, _loader(train_ds, cfg, True, gen), optimizer, device,
                                       pos_w, neg_w, cfg.train.grad_clip)
                if not math.isfinite(loss):
                    raise NonFiniteLoss(f"training loss is {loss} at epoch {epoch + 1}; lower train.lr or set "
                                        f"train.grad_clip; the checkpoint of the last good epoch is {resume_path}")
                train_s = time.time() - te
                row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss,
                                       "lr": optimizer.param_groups[0]["lr"],
                                       "train_images_per_s": len(train_ds) / max(train_s, 1e-9)}
                evals = {s: evaluate(model, eval_loaders[s], device, data)
                         for s in ("val", "test") if s in eval_loaders and (s == "val" or select_split == "test")}
                for s, mets in evals.items():
                    row.update({f"{s}_{k}": v for k, v in M.scalar_metrics(mets).items()})
                if scheduler is not None:
                    if cfg.train.scheduler == "plateau":
                        scheduler.step(row.get("val_error", loss))
                    else:
                        scheduler.step()
                if select_split is None or _is_better(row[f"{select_split}_{select_metric}"], best["value"], select_metric):
                    best = {"value": row.get(f"{select_split}_{select_metric}"), "epoch": epoch + 1,
                            "state": copy.deepcopy(model.state_dict())}
                history.append(row)
                eta = (time.time() - t0) / (epoch + 1 - start_epoch) * (cfg.train.epochs - epoch - 1)
                log(f"epoch {epoch + 1}/{cfg.train.epochs} loss {loss:.4f}"
                    + (f" val_error {row['val_error']:.2f}%" if "val_error" in row else "")
                    + f" {row['train_images_per_s']:.0f} img/s eta {eta:.0f}s")
                tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch + 1)
                torch.save(_state(model, optimizer, scheduler, epoch, history, best, tracker.run_id, fingerprint),
                           resume_path.with_suffix(".tmp"))
                resume_path.with_suffix(".tmp").replace(resume_path)
                if guard.received is not None:
                    raise Preempted(f"signal {guard.received} received; checkpoint saved at epoch {epoch + 1}")
    except Preempted:
        tracker.finish("KILLED")
        raise
    except BaseException:
        tracker.finish("FAILED")
        raise

    model.load_state_dict(best["state"])
    test = evaluate(model, eval_loaders["test"], device, data)
    result = {
        "test": test, "selected_epoch": best["epoch"], "selection": cfg.train.selection,
        "selection_value": best["value"], "epochs": cfg.train.epochs, "mlflow_run_id": tracker.run_id,
        "num_parameters": sum(p.numel() for p in model.parameters()), "train_seconds": time.time() - t0,
        "config_fingerprint": fingerprint, "dataset_sha256": data.meta.get("labels_sha256", ""),
        "attributes": data.attributes,
    }
    pd_history = pd.DataFrame(history)
    atomic_write(out_dir / "history.csv", lambda p: pd_history.to_csv(p, index=False))
    atomic_write(out_dir / "model.pt", lambda p: torch.save(
        {"model": best["state"], "config": cfg.to_dict(), "attributes": data.attributes}, p))
    tracker.log_metrics({f"test_{k}": v for k, v in M.scalar_metrics(test).items()}, step=best["epoch"])
    tracker.set_tags({"selected_epoch": str(best["epoch"])})
    write_json(out_dir / "metrics.json", result)
    for name in ("config.yaml", "metrics.json", "history.csv"):
        tracker.log_artifact(out_dir / name)
    tracker.finish("FINISHED")
    resume_path.unlink(missing_ok=True)
    log(f"test error {test['error']:.2f}% (epoch {best['epoch']} by {cfg.train.selection}) → {out_dir}")
    return result

