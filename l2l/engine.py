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

Resume contract: ``resume.ckpt`` is written (atomically) before training starts and
after every epoch, *before* that epoch's metrics go to MLflow; it holds the MLflow
run id. A rerun continues in the same MLflow run, re-logs any epoch whose metrics
did not reach MLflow, and, because every epoch's RNG depends only on (seed, epoch),
ends with the same numbers as an uninterrupted run. It is not a Snakemake output,
so Snakemake never deletes it when a job fails.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import signal
import socket
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
from l2l.data.batched import CachedBatches
from l2l.data.cache import load_cache
from l2l.data.loader import AttributeImageDataset
from l2l.data.mixup import mixup
from l2l.devices import device_record, resolve_device
from l2l.errors import Preempted, UserError
from l2l.io import atomic_write, write_json, write_yaml
from l2l.models import create_model
from l2l.progress import progress as progress_bar
from l2l.tracking import Tracker, git_commit, resolve_uri

HIGHER_IS_BETTER = {"mA", "accuracy", "precision", "recall", "f1", "f1_of_means"}


class NonFiniteLoss(UserError):
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
    if pos_weight is not None:  # soft (Mixup) targets weigh both sides in proportion
        loss = loss * (target * pos_weight + (1 - target) * neg_weight)
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
            freeze_bn=m.freeze_bn, logit_bn=m.logit_bn, mlm_dropout=m.mlm_dropout,
            weights=m.weights, drop_path=m.drop_path, feature_dropout=m.feature_dropout,
            label_embedding_init=m.label_embedding_init, aqn_encoder_layers=m.aqn_encoder_layers,
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
    impl = {}
    if t.fused_optimizer and t.device.startswith("cuda"):  # one kernel instead of a loop over parameters
        impl = {"fused": True}  # on CPU foreach measured slower than the loop (docs/performance.md)
    if t.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, **impl)
    return torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay, **impl)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when enabled; a no-op elsewhere (CPU bf16 is slower than fp32 on most CPUs)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def uses_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def batch_sources(cfg: RunConfig, data: PreparedDataset, device: torch.device,
                  channels_last: bool) -> tuple[Any, dict[str, Any]] | None:
    """Training and evaluation batches read from the uint8 cache (data.cache), or None for the
    per-sample DataLoader path. Either kind is an iterable of (images, labels) the loop consumes."""
    if not cfg.data.cache:
        return None
    size, t = cfg.data.image_size, cfg.train

    def source(splits: str | list[str], train: bool) -> CachedBatches:
        splits = [splits] if isinstance(splits, str) else list(splits)
        labels = np.concatenate([data.labels[data.indices(s)] for s in splits])
        if len(labels) == 0:
            raise UserError(f"{data.root / 'labels.csv'}: split(s) {splits} have no images; "
                            f"check data.train_splits / val_split / test_split")
        try:
            return CachedBatches([load_cache(data, s, size) for s in splits], labels,
                                 t.batch_size if train else t.eval_batch_size, device,
                                 augment=cfg.data.augment if train else (),
                                 mixup_alpha=t.mixup_alpha if train else 0.0, channels_last=channels_last, train=train)
        except ValueError as e:
            raise UserError(f"data.augment: {e}") from e

    evals = {"test": source(cfg.data.test_split, False)}
    if cfg.data.val_split:
        evals["val"] = source(cfg.data.val_split, False)
    return source(cfg.data.train_splits, True), evals


def build_scheduler(cfg: RunConfig, optimizer: torch.optim.Optimizer):
    t = cfg.train
    if t.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs)
    if t.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=t.plateau_patience)
    return None


def _loader(ds: AttributeImageDataset, cfg: RunConfig, train: bool, generator: torch.Generator | None = None):
    t = cfg.train
    bs = t.batch_size if train else t.eval_batch_size
    one_left = train and cfg.model.logit_bn != "none" and len(ds) % bs == 1  # BatchNorm1d cannot train on 1
    return DataLoader(ds, batch_size=bs, shuffle=train,
                      generator=generator, num_workers=t.num_workers, drop_last=one_left,
                      pin_memory=t.device.startswith("cuda"))


@torch.inference_mode()
def predict(model: torch.nn.Module, loader: DataLoader, device: torch.device,
            amp: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Probabilities of every head output, and labels, for a whole split."""
    model.eval()
    probs: dict[str, list[torch.Tensor]] = {}
    labels = []
    for images, y in loader:
        with autocast(device, amp):
            outputs = model(images.to(device, non_blocking=True))
        for k, v in outputs.items():
            probs.setdefault(k, []).append(torch.sigmoid(v.float()).cpu())
        labels.append(y.cpu())
    return {k: torch.cat(v).numpy() for k, v in probs.items()}, torch.cat(labels).numpy().astype(np.int8)


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device, data: PreparedDataset,
             amp: bool = False) -> dict[str, Any]:
    """Metrics of the final prediction; for multi-output heads also the error of each other output."""
    probs, labels = predict(model, loader, device, amp)
    out = M.compute_metrics(probs[model.prediction_key], labels, data.attributes, data.groups)
    for key, p in probs.items():
        if key != model.prediction_key:
            out[f"{key}_error"] = M.mean_error((p > 0.5).astype(np.int8), labels)
    return out


def train_step(model, images, y, optimizer, pos_w, neg_w, grad_clip: float | None,
               amp: bool = False) -> torch.Tensor:
    """One optimisation step; returns the loss as a device tensor (no host sync)."""
    with autocast(images.device, amp):
        outputs = model(images)
        loss = sum(w * masked_bce(outputs[k].float(), y, pos_w, neg_w) for k, w in model.loss_weights.items())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def train_one_epoch(model, loader, optimizer, device, pos_w, neg_w, grad_clip: float | None,
                    amp: bool = False, mixup_alpha: float = 0.0, bar: bool = False, desc: str = "train",
                    stop: Callable[[], bool] | None = None) -> float | None:
    """Mean training loss of one epoch, or None when ``stop()`` became true between two batches.

    ``loader`` is a DataLoader, or cached batches that already mixed (then mixup_alpha=0); ``bar``
    draws a per-batch progress bar (for a terminal, never a log). Stopping mid-epoch (a preemption
    signal) abandons the partial epoch: the job exits within one batch and the rerun redoes the
    epoch from the last checkpoint.
    """
    model.train()
    total, count = torch.zeros((), device=device), 0
    for images, y in progress_bar(loader, desc=desc, unit="batch", bar=bar, leave=False):
        if stop is not None and stop():
            return None
        images, y = images.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if mixup_alpha > 0:
            images, y = mixup(images, y, mixup_alpha)
        loss = train_step(model, images, y, optimizer, pos_w, neg_w, grad_clip, amp)
        total += loss * len(y)  # accumulated on device: no host sync per step
        count += len(y)
    return float(total) / max(count, 1)


def _is_better(value: float, best: float | None, metric: str) -> bool:
    if best is None:
        return True
    return value > best if metric in HIGHER_IS_BETTER else value < best


class _SignalGuard:
    """Turn SIGTERM/SIGUSR1/SIGINT (SLURM preemption or time limit, Snakemake abort, Ctrl-C) into a flag
    checked between batches. A second Ctrl-C interrupts at once; repeated SIGTERMs (SLURM and Snakemake
    may both send one) only keep the flag."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_SignalGuard":
        for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = self.received or signum

    def stop_requested(self) -> bool:
        return self.received is not None

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _state(model, optimizer, scheduler, epoch, history, best, run_id, fingerprint,
           elapsed_s: float = 0.0) -> dict[str, Any]:
    return {"elapsed_s": elapsed_s, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler else None, "epoch": epoch,
            "history": history, "best": best, "run_id": run_id, "fingerprint": fingerprint}


def _scheduler_tags() -> dict[str, str]:
    """SLURM job id and host, so an MLflow run points back to the cluster job (and its log) that ran it."""
    if not os.environ.get("SLURM_JOB_ID"):
        return {}
    return {"slurm_job_id": os.environ["SLURM_JOB_ID"], "host": socket.gethostname()}


def _scheduler_job() -> str:
    tags = _scheduler_tags()
    return f"SLURM job {tags['slurm_job_id']} on {tags['host']}" if tags else ""


def _save_torch(path: Path, obj: Any) -> None:
    """Atomic torch.save, serialised in memory first: on a full disk torch's own writer raises an opaque
    RuntimeError ("unexpected pos ..."), while a plain write raises OSError(ENOSPC), which names the file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))


def _load_resume(path: Path, fingerprint: str, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The checkpoint of this config, or None; one of another config is moved aside, not trusted."""
    for stale_tmp in path.parent.glob(".*.tmp"):  # atomic_write temp files of a process killed mid-write
        stale_tmp.unlink(missing_ok=True)
    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or corrupt: cannot happen through atomic writes, but be safe
        raise UserError(f"{path}: checkpoint cannot be read ({e}); delete it to start the run over") from e
    if ckpt.get("fingerprint") != fingerprint:
        aside = path.with_name(f"{path.name}.{ckpt.get('fingerprint')}.stale")
        path.replace(aside)
        log(f"{path} belongs to another config (fingerprint {ckpt.get('fingerprint')} != {fingerprint}); "
            f"moved to {aside.name}, starting over")
        return None
    return ckpt


def _relog_missing_epochs(tracker: Tracker, history: list[dict[str, Any]]) -> None:
    """Epochs checkpointed but killed before their metrics reached MLflow are logged now (no gap, no duplicate)."""
    logged = tracker.logged_steps("train_loss")
    for row in history:
        if row["epoch"] not in logged:
            tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])


def train(cfg: RunConfig, out_dir: str | Path, tags: Mapping[str, str] | None = None,
          log: Callable[[str], None] = print, progress: bool = False) -> dict[str, Any]:
    """Train one run end to end (resuming from ``resume.ckpt`` if present) and write the run folder.

    ``log`` gets one line per epoch (loss, val error, images/s, ETA); ``progress`` adds a per-batch
    bar for a terminal (the CLI turns it on only when stderr is a tty, so log files stay clean).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.train.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(cfg.train.device)  # auto: CUDA if present; the leased GPU if any (l2l.devices)
    data = load_prepared(cfg.data.path)
    job = _scheduler_job()
    if job:
        log(f"running as {job}")
    write_yaml(out_dir / "config.yaml", cfg.to_dict())

    seed_everything(cfg.seed)
    model = build_model(cfg, len(data.attributes))
    if cfg.model.init_from:
        load_stage_one(cfg, model)
    model = model.to(device)
    # NHWC pays on CUDA tensor cores; on CPU it measured within noise (docs/performance.md), so CUDA only
    channels_last = cfg.train.channels_last and device.type == "cuda" and uses_conv(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    amp = cfg.train.amp
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    pos_w = neg_w = None
    if cfg.train.loss_weighting == "pa100k":
        pos_w, neg_w = (w.to(device) for w in pa100k_weights(data.positive_rate(cfg.data.train_splits)))

    cached = batch_sources(cfg, data, device, channels_last)
    if cached:
        train_ds, eval_loaders = cached
    else:
        size, aug = cfg.data.image_size, cfg.data.augment
        preload = len(data.images) <= 20000 and size[0] * size[1] <= 64 * 64
        train_ds = AttributeImageDataset(data, cfg.data.train_splits, size, aug, train=True, preload=preload)
        eval_sets = {"test": AttributeImageDataset(data, cfg.data.test_split, size, preload=preload)}
        if cfg.data.val_split:
            eval_sets["val"] = AttributeImageDataset(data, cfg.data.val_split, size, preload=preload)
        eval_loaders = {k: _loader(v, cfg, train=False) for k, v in eval_sets.items()}
    if cfg.train.compile:
        model.compile()  # in place: state_dict keys stay those of the eager model
    select_split = {"best_val": "val", "best_test": "test", "last": None}[cfg.train.selection]
    select_metric = "error"

    resume_path = out_dir / "resume.ckpt"
    fingerprint = cfg.fingerprint()
    ckpt = _load_resume(resume_path, fingerprint, log)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"value": None, "epoch": None, "state": None}
    start_epoch, run_id = 0, None
    if ckpt:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler and ckpt["scheduler"]:
            scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, history, best, run_id = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"], ckpt["run_id"]
        n = cfg.train.epochs
        log(f"resuming from {resume_path} at epoch {start_epoch + 1}/{n}" if start_epoch < n
            else f"resuming from {resume_path}: all {n} epochs done, testing and writing the run folder")

    uri = resolve_uri(cfg.tracking.uri)
    source_meta = data.meta.get("source") if isinstance(data.meta.get("source"), dict) else {}
    run_tags = {"dataset": data.name, "dataset_sha256": data.meta.get("labels_sha256", ""),
                **({"source_sha256": source_meta["archive_sha256"]} if source_meta.get("archive_sha256") else {}),
                **({"source_url": source_meta["url"]} if source_meta.get("url") else {}),
                "method": cfg.method, "backbone": cfg.backbone, "seed": str(cfg.seed),
                "git_commit": git_commit(), "config_fingerprint": fingerprint, "selection": cfg.train.selection,
                **({"leaky_selection": "true"} if cfg.train.selection == "best_test" else {}),
                **_scheduler_tags(), **device_record(device), **cfg.tracking.tags, **(tags or {})}
    run_name = tags.get("run_name") if tags and "run_name" in tags else \
        f"{data.name}/{cfg.method}/{cfg.backbone}/seed{cfg.seed}"
    tracker = Tracker.start(uri, cfg.tracking.experiment, run_name, run_tags, cfg.flat_params(), run_id=run_id)
    if ckpt:
        tracker.set_tags({**_scheduler_tags(), **device_record(device)})  # the job that finishes the run
        _relog_missing_epochs(tracker, history)
    else:  # the run id is on disk before any work, so even a kill in epoch 1 resumes in this MLflow run
        try:
            _save_torch(resume_path, _state(model, optimizer, scheduler, -1, history, best, tracker.run_id,
                                            fingerprint))
        except BaseException:
            tracker.finish("FAILED")
            raise

    before_s = ckpt.get("elapsed_s", 0.0) if ckpt else 0.0  # training time of the earlier jobs of this run
    t0 = time.time()
    try:
        with _SignalGuard() as guard:
            for epoch in range(start_epoch, cfg.train.epochs):
                torch.manual_seed(cfg.seed * 100003 + epoch)  # resume-exact: RNG depends only on (seed, epoch)
                gen = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
                te = time.time()
                batches = train_ds.set_epoch_seed(cfg.seed * 100003 + epoch) if cached else \
                    _loader(train_ds, cfg, True, gen)
                loss = train_one_epoch(model, batches, optimizer, device, pos_w, neg_w, cfg.train.grad_clip, amp,
                                       mixup_alpha=0.0 if cached else cfg.train.mixup_alpha, bar=progress,
                                       desc=f"epoch {epoch + 1}/{cfg.train.epochs}", stop=guard.stop_requested)
                if loss is None:
                    raise Preempted(f"signal {guard.received} received during epoch {epoch + 1}/{cfg.train.epochs}; "
                                    f"{resume_path} keeps epoch {epoch}: re-run the same command to resume",
                                    guard.received)
                if not math.isfinite(loss):
                    raise NonFiniteLoss(f"training loss is {loss} in epoch {epoch + 1} (MLflow run {tracker.run_id} "
                                        f"marked FAILED); lower train.lr or set train.grad_clip; {resume_path} "
                                        f"keeps " + (f"the last good epoch ({epoch})" if epoch else
                                                     "the weights before training"))
                train_s = time.time() - te
                row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss,
                                       "lr": optimizer.param_groups[0]["lr"],
                                       "train_images_per_s": len(train_ds) / max(train_s, 1e-9)}
                evals = {s: evaluate(model, eval_loaders[s], device, data, amp)
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
                # checkpoint first, then MLflow: a kill in between is repaired by _relog_missing_epochs
                _save_torch(resume_path, _state(model, optimizer, scheduler, epoch, history, best, tracker.run_id,
                                                fingerprint, before_s + time.time() - t0))
                tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch + 1)
                eta = (time.time() - t0) / (epoch + 1 - start_epoch) * (cfg.train.epochs - epoch - 1)
                log(f"epoch {epoch + 1}/{cfg.train.epochs} loss {loss:.4f}"
                    + (f" val_error {row['val_error']:.2f}%" if "val_error" in row else "")
                    + f" {row['train_images_per_s']:.0f} img/s eta {eta:.0f}s")
                if guard.received is not None and epoch + 1 < cfg.train.epochs:
                    raise Preempted(f"signal {guard.received} received; {resume_path} keeps epoch {epoch + 1}/"
                                    f"{cfg.train.epochs}: re-run the same command to resume", guard.received)
            # a signal after the last epoch: finishing (seconds) beats a rerun
            return _finish(cfg, model, best, eval_loaders, device, data, history, tracker, out_dir, t0 - before_s,
                           fingerprint, resume_path, log)
    except Preempted:
        tracker.finish("KILLED")
        raise
    except BaseException:
        tracker.finish("FAILED")
        raise


def _finish(cfg: RunConfig, model, best, eval_loaders, device, data, history, tracker: Tracker, out_dir: Path,
            t0: float, fingerprint: str, resume_path: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Test the selected epoch and write the run folder; resume.ckpt goes only after MLflow says FINISHED."""
    model.load_state_dict(best["state"])
    test = evaluate(model, eval_loaders["test"], device, data, cfg.train.amp)
    result = {
        "test": test, "selected_epoch": best["epoch"], "selection": cfg.train.selection,
        "selection_value": best["value"], "epochs": cfg.train.epochs, "mlflow_run_id": tracker.run_id,
        "num_parameters": sum(p.numel() for p in model.parameters()), "train_seconds": time.time() - t0,
        "config_fingerprint": fingerprint, "dataset_sha256": data.meta.get("labels_sha256", ""),
        "attributes": data.attributes, **device_record(device),
    }
    pd_history = pd.DataFrame(history)
    atomic_write(out_dir / "history.csv", lambda p: pd_history.to_csv(p, index=False))
    _save_torch(out_dir / "model.pt", {"model": best["state"], "config": cfg.to_dict(), "attributes": data.attributes})
    write_json(out_dir / "metrics.json", result)
    if not tracker.logged_steps("test_error"):  # a rerun after a failure here must not log them twice
        tracker.log_metrics({f"test_{k}": v for k, v in M.scalar_metrics(test).items()}, step=best["epoch"])
    tracker.set_tags({"selected_epoch": str(best["epoch"])})
    for name in ("config.yaml", "metrics.json", "history.csv"):
        tracker.log_artifact(out_dir / name)
    tracker.finish("FINISHED")
    resume_path.unlink(missing_ok=True)
    log(f"test error {test['error']:.2f}% (epoch {best['epoch']} by {cfg.train.selection}) → {out_dir}")
    return result

