"""One training loop for every method: train, select the epoch, test, write the run folder.

The methods differ only in the head; the head says which outputs it produces and
how much each output's BCE weighs (``loss_weights``), so this loop never branches
on the method name, and it never branches on the data source either: both give
:class:`l2l.data.batched.Batches`.

:class:`Trainer` runs three phases (``setup``, the epochs, ``finish``); what happens at an epoch's
end (scheduler, epoch selection, checkpoint, MLflow, log line, preemption) is a hook in
:mod:`l2l.hooks`, called in that order.

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
so Snakemake never deletes it when a job fails. Checkpoints hold only tensors and plain
containers and are read with ``weights_only=True`` (:mod:`l2l.checkpoint`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from l2l import metrics as M
from l2l.checkpoint import load_checkpoint, load_state_into, plain, save_checkpoint
from l2l.config import RunConfig
from l2l.data import PreparedDataset, load_prepared
from l2l.data.batched import Batches, CachedImages, FileImages
from l2l.data.cache import load_cache
from l2l.data.fingerprint import check_resume_data, data_sha256
from l2l.data.loader import DecodedImages
from l2l.devices import device_record, resolve_device
from l2l.data.mixup import Mix, apply_mix, draw_mix
from l2l.errors import Preempted, UserError
from l2l.hooks import HookBase, default_hooks
from l2l.io import atomic_write, write_json, write_yaml
from l2l.models import create_model
from l2l.progress import progress as progress_bar
from l2l.run_files import IMAGE_ERRORS, claim_run_dir, remove_own_temporaries
from l2l.tracking import Tracker, git_commit, resolve_uri, source_tags
from l2l.versions import version_tags

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NonFiniteLoss(UserError):
    """The loss became NaN/inf: the run stops, marked FAILED, with the last good checkpoint kept."""


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of every random draw of one epoch: resume-exact, the RNG depends only on (seed, epoch)."""
    return seed * 100003 + epoch


# ------------------------------------------------------------------------------------------ the loss

def masked_bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None = None,
               neg_weight: torch.Tensor | None = None, reduction: str = "mean",
               clamp: float | None = None) -> torch.Tensor:
    """BCE over known labels (label -1 = unknown contributes nothing), optionally weighted.

    ``reduction``: ``mean`` averages over every known (image, attribute) pair; ``sum`` sums over
    attributes and averages over the batch (the paper's L = Σ_j ..., the official PA-100K loss).
    ``clamp`` clips the logits to ±clamp first (the official LFWA loss: 10).
    """
    known = labels >= 0
    target = labels.clamp(min=0)
    if clamp is not None:
        logits = logits.clamp(-clamp, clamp)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if pos_weight is not None:  # soft (Mixup) targets weigh both sides in proportion
        loss = loss * (target * pos_weight + (1 - target) * neg_weight)
    total = (loss * known).sum()
    if reduction == "sum":
        return total / max(labels.shape[0], 1)
    return total / known.sum().clamp(min=1)


def pa100k_weights(positive_rate: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard PA weighting: exp(1 - r_j) on positives, exp(r_j) on negatives."""
    r = torch.as_tensor(positive_rate, dtype=torch.float32)
    return torch.exp(1 - r), torch.exp(r)


def build_loss(cfg: RunConfig, data: PreparedDataset, device: torch.device) -> LossFn:
    """masked_bce with the run's weighting, reduction and clamp bound (one loss for train and eval)."""
    t, pos_w, neg_w = cfg.train, None, None
    if t.loss_weighting == "pa100k":
        pos_w, neg_w = (w.to(device) for w in pa100k_weights(data.positive_rate(cfg.data.train_splits)))
    return functools.partial(masked_bce, pos_weight=pos_w, neg_weight=neg_w, reduction=t.loss_reduction,
                             clamp=t.logit_clamp)


def model_loss(model: torch.nn.Module, outputs: Mapping[str, torch.Tensor], y: torch.Tensor,
               loss_fn: LossFn = masked_bce, output_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Σ over the head's outputs of weight × loss (eq. 4 for Label2Label); ``output_weights`` replaces
    the head's ``loss_weights`` (:func:`split_loss_weights`)."""
    weights = model.loss_weights if output_weights is None else output_weights
    return sum(w * loss_fn(outputs[k].float(), y) for k, w in weights.items())


def split_loss_weights(model: torch.nn.Module, which: str) -> dict[str, float]:
    """The outputs (and weights) of a split's loss column (``train.plateau_loss``): ``total`` = the
    training loss; ``prediction`` = the final prediction's loss alone (official PA-100K: its plateau
    scheduler steps on the loss of the IC-MLM logits, ``valid_trainer`` in ``batch_engine.py``)."""
    if which == "total":
        return dict(model.loss_weights)
    if which == "prediction":
        return {model.prediction_key: 1.0}
    raise ValueError(f"unknown train.plateau_loss '{which}'; choose total or prediction")


# ------------------------------------------------------------------------------------ model and optim

def build_model(cfg: RunConfig, num_attributes: int) -> torch.nn.Module:
    """The run's model: each component reads its keys from ``cfg.model`` (l2l/models/registry.py)."""
    try:
        return create_model(cfg.method, cfg.backbone, num_attributes, cfg.model)
    except ValueError as e:
        raise UserError(str(e)) from e


def load_stage_one(cfg: RunConfig, model: torch.nn.Module) -> None:
    """Two-stage methods (Table 7): load and freeze the AQN run named by ``model.init_from``."""
    from l2l.models.two_stage import init_from_stage_one

    path = Path(cfg.model.init_from)
    if not path.is_file():
        raise UserError(f"{path}: model.init_from names no file; train the AQN run first (Snakemake does)")
    ckpt = load_checkpoint(path, "model.init_from must name a model.pt written by l2l train for an AQN run")
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
    if t.optimizer == "adam":  # L2 in the gradient, not decoupled (Rethinking_of_PAR's train.py: torch.optim.Adam)
        return torch.optim.Adam(groups, lr=t.lr, weight_decay=t.weight_decay, **impl)
    return torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay, **impl)


def build_scheduler(cfg: RunConfig, optimizer: torch.optim.Optimizer):
    t = cfg.train
    if t.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs)
    if t.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=t.plateau_patience)
    return None


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when enabled; a no-op elsewhere (CPU bf16 is slower than fp32 on most CPUs)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def uses_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def step_settings(cfg: RunConfig, device: torch.device, model: torch.nn.Module) -> dict[str, bool]:
    """The speed switches the engine really uses on ``device`` (the fast-path test compares exactly these)."""
    cuda = device.type == "cuda"
    return {"channels_last": cfg.train.channels_last and cuda and uses_conv(model),
            "amp": cfg.train.amp and cuda, "fused": cfg.train.fused_optimizer and cuda}


# ----------------------------------------------------------------------------------------------- data

def build_batches(cfg: RunConfig, data: PreparedDataset, device: torch.device,
                  channels_last: bool) -> tuple[Batches, dict[str, Batches]]:
    """Training batches and evaluation batches ({'test', 'val'}) from the cache or the image files."""
    size, t, d = cfg.data.image_size, cfg.train, cfg.data
    preload = len(data.images) <= 20000 and size[0] * size[1] <= 64 * 64

    def source(splits: str | list[str], train: bool) -> Batches:
        splits = [splits] if isinstance(splits, str) else list(splits)
        labels = np.concatenate([data.labels[data.indices(s)] for s in splits])
        if len(labels) == 0:
            raise UserError(f"{data.root / 'labels.csv'}: split(s) {splits} have no images; "
                            f"check data.train_splits / val_split / test_split")
        images = CachedImages([load_cache(data, s, size) for s in splits], device) if d.cache else \
            FileImages(DecodedImages(data, splits, size, preload=preload), device, t.num_workers)
        try:
            return Batches(images, labels, t.batch_size if train else t.eval_batch_size, device, train=train,
                           augment=d.augment if train else (), channels_last=channels_last,
                           randaugment_n=d.randaugment_n, randaugment_m=d.randaugment_m,
                           augment_order=d.augment_order)
        except ValueError as e:
            raise UserError(f"data.augment: {e}") from e

    evals = {"test": source(d.test_split, False)}
    if d.val_split:
        evals["val"] = source(d.val_split, False)
    return source(d.train_splits, True), evals


# ------------------------------------------------------------------------------------- steps / epochs

@dataclass
class MixupPolicy:
    """Mixup of the training loop (train.mixup_*): which batches, and whether the model sees the mix."""

    alpha: float = 0.0
    prob: float = 1.0
    label_embeddings: bool = False
    rng: np.random.Generator | None = None

    def draw(self, batch_size: int) -> Mix | None:
        if self.alpha <= 0:
            return None
        return draw_mix(batch_size, self.alpha, self.rng, self.prob)


def accepts_mix(model: torch.nn.Module) -> bool:
    """Whether the model's forward takes ``mix_lam`` / ``mix_labels`` (heads with an IC-MLM): in a mixed
    batch with ``train.mixup_label_embeddings`` the loop passes λ and the 2×B×M stack (own labels,
    Mixup partner's labels), from which the IC-MLM mixes its label embeddings (official LFWA code)."""
    return bool(getattr(model, "accepts_mix", False) or getattr(getattr(model, "head", None), "accepts_mix", False))


def train_step(model, images, y, optimizer, loss_fn: LossFn = masked_bce, grad_clip: float | None = None,
               amp: bool = False, forward_kwargs: Mapping[str, Any] | None = None) -> torch.Tensor:
    """One optimisation step; returns the loss as a device tensor (no host sync)."""
    with autocast(images.device, amp):
        outputs = model(images, **(forward_kwargs or {}))
        loss = model_loss(model, outputs, y, loss_fn)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def train_one_epoch(model, batches: Iterable, optimizer, device, loss_fn: LossFn = masked_bce,
                    grad_clip: float | None = None, amp: bool = False, mixup: MixupPolicy | None = None,
                    bar: bool = False, desc: str = "train", stop: Callable[[], bool] | None = None) -> float | None:
    """Mean training loss of one epoch, or None when ``stop()`` became true between two batches.

    ``bar`` draws a per-batch progress bar (for a terminal, never a log). Stopping mid-epoch (a
    preemption signal) abandons the partial epoch: the job exits within one batch and the rerun
    redoes the epoch from the last checkpoint.
    """
    model.train()
    mix_into_model = mixup is not None and mixup.label_embeddings and accepts_mix(model)
    total, count = torch.zeros((), device=device), 0
    n_batches = getattr(batches, "num_batches", None)  # Batches: len() counts samples, the bar counts batches
    for images, y in progress_bar(batches, total=n_batches, desc=desc, unit="batch", bar=bar, leave=False):
        if stop is not None and stop():
            return None
        images, y = images.to(device, non_blocking=True), y.to(device, non_blocking=True)
        mix = mixup.draw(len(y)) if mixup is not None else None
        kwargs = None
        if mix is not None and mix_into_model:  # 2×B×M: each image's own labels and its partner's (models/)
            kwargs = {"mix_lam": mix.lam, "mix_labels": torch.stack([y, y[mix.perm.to(device)]])}
        images, y = apply_mix(images, y, mix)
        loss = train_step(model, images, y, optimizer, loss_fn, grad_clip, amp, kwargs)
        total += loss * len(y)  # accumulated on device: no host sync per step
        count += len(y)
    return float(total) / max(count, 1)


@torch.inference_mode()
def forward_split(model: torch.nn.Module, batches: Iterable, device: torch.device, amp: bool = False,
                  loss_fn: LossFn | None = None, loss_weights: Mapping[str, float] | None = None
                  ) -> tuple[dict[str, np.ndarray], np.ndarray, float | None]:
    """Probabilities of every head output, labels, and (with ``loss_fn``) the mean loss of a split
    (over the outputs of ``loss_weights``; None: the head's ``loss_weights``)."""
    model.eval()
    probs: dict[str, list[torch.Tensor]] = {}
    labels, loss, count = [], 0.0, 0
    for images, y in batches:
        y = y.to(device)
        with autocast(device, amp):
            outputs = model(images.to(device, non_blocking=True))
        if loss_fn is not None:
            loss += float(model_loss(model, outputs, y, loss_fn, loss_weights)) * len(y)
            count += len(y)
        for k, v in outputs.items():
            probs.setdefault(k, []).append(torch.sigmoid(v.float()).cpu())
        labels.append(y.cpu())
    mean_loss = loss / max(count, 1) if loss_fn is not None else None
    return {k: torch.cat(v).numpy() for k, v in probs.items()}, torch.cat(labels).numpy().astype(np.int8), mean_loss


def predict(model: torch.nn.Module, batches: Iterable, device: torch.device,
            amp: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Probabilities of every head output, and labels, for a whole split."""
    probs, labels, _ = forward_split(model, batches, device, amp)
    return probs, labels


def evaluate(model: torch.nn.Module, batches: Iterable, device: torch.device, data: PreparedDataset,
             amp: bool = False, loss_fn: LossFn | None = None, loss_weights: Mapping[str, float] | None = None,
             ma_undefined_half: str = "skip") -> dict[str, Any]:
    """Metrics of the final prediction; for multi-output heads also the error of each other output;
    with ``loss_fn`` also ``loss`` (on this split, over the outputs of ``loss_weights``: for
    plateau_on=<split>_loss); ``ma_undefined_half`` is ``train.ma_undefined_half`` (l2l.metrics)."""
    probs, labels, loss = forward_split(model, batches, device, amp, loss_fn, loss_weights)
    return split_metrics(model, probs, labels, data, loss, ma_undefined_half)


def split_metrics(model: torch.nn.Module, probs: dict[str, np.ndarray], labels: np.ndarray,
                  data: PreparedDataset, loss: float | None = None, ma_undefined_half: str = "skip") -> dict[str, Any]:
    """:func:`evaluate`'s metrics from a split's forward pass already made (the test pass also gives the
    per-image errors, :func:`write_image_errors`)."""
    out = M.compute_metrics(probs[model.prediction_key], labels, data.attributes, data.groups,
                            ma_undefined_half=ma_undefined_half)
    for key, p in probs.items():
        if key != model.prediction_key:
            out[f"{key}_error"] = M.mean_error((p > 0.5).astype(np.int8), labels)
    if loss is not None:
        out["loss"] = loss
    return out


def write_image_errors(path: Path, probs: np.ndarray, labels: np.ndarray) -> None:
    """The selected model's error per test image (test-split order; ``probs`` of its final prediction), so two
    methods trained on the same seeds can be compared image by image (the paired bootstrap of
    l2l/report/intervals.py); float32, one per image."""
    pred = (probs > 0.5).astype(np.int8)
    known = labels >= 0
    errors = 100.0 * ((pred != labels) & known).sum(1) / np.maximum(known.sum(1), 1)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, errors.astype(np.float32))

    atomic_write(path, save)


# ------------------------------------------------------------------------------------------ run setup

def _scheduler_tags() -> dict[str, str]:
    """SLURM job id and host, so an MLflow run points back to the cluster job (and its log) that ran it."""
    if not os.environ.get("SLURM_JOB_ID"):
        return {}
    return {"slurm_job_id": os.environ["SLURM_JOB_ID"], "host": socket.gethostname()}


def _scheduler_job() -> str:
    tags = _scheduler_tags()
    return f"SLURM job {tags['slurm_job_id']} on {tags['host']}" if tags else ""


def _load_resume(path: Path, fingerprint: str, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The checkpoint of this config, or None; one of another config is moved aside, not trusted."""
    remove_own_temporaries(path.parent)  # atomic_write temp files of a process killed mid-write (ours only)
    if not path.is_file():
        return None
    ckpt = load_checkpoint(path, "delete it to start the run over")
    if ckpt.get("fingerprint") != fingerprint:
        aside = path.with_name(f"{path.name}.{ckpt.get('fingerprint')}.stale")
        path.replace(aside)
        log(f"{path} belongs to another config (fingerprint {ckpt.get('fingerprint')} != {fingerprint}); "
            f"moved to {aside.name}, starting over")
        return None
    if "hooks" not in ckpt:  # before the hooks kept their own state: its selected epoch cannot be restored
        raise UserError(f"{path}: written by an older l2l (no hook state, so its selected epoch is unknown); "
                        f"delete it to start the run over")
    return ckpt


def _run_tags(cfg: RunConfig, data: PreparedDataset, fingerprint: str, tags: Mapping[str, str] | None,
              device: torch.device) -> dict:
    """Tags of the MLflow run: what was trained on what, by which code, on which software and hardware."""
    source_meta = data.meta.get("source") if isinstance(data.meta.get("source"), dict) else {}
    return {"dataset": data.name, "dataset_sha256": data.meta.get("labels_sha256", ""),
            "data_sha256": data_sha256(data.meta), "protocol": cfg.protocol,
            **({"source_sha256": source_meta["archive_sha256"]} if source_meta.get("archive_sha256") else {}),
            **({"source_url": source_meta["url"]} if source_meta.get("url") else {}),
            "method": cfg.method, "backbone": cfg.backbone, "seed": str(cfg.seed),
            **source_tags(git_commit()), "config_fingerprint": fingerprint, "selection": cfg.train.selection,
            **({"leaky_selection": "true"} if cfg.train.selection == "best_test"
               or cfg.train.plateau_on.startswith("test_") else {}),
            **_scheduler_tags(), **device_record(device), **version_tags(), **cfg.tracking.tags, **(tags or {})}


def _dataset_profile(data: PreparedDataset, cfg: RunConfig) -> dict[str, Any]:
    """Sizes MLflow shows beside the dataset input: images per split and attributes."""
    splits = {s: int(len(data.indices(s))) for s in dict.fromkeys([*cfg.data.train_splits, cfg.data.val_split,
                                                                    cfg.data.test_split]) if s}
    return {"images": splits, "attributes": len(data.attributes)}


def _relog_missing_epochs(tracker: Tracker, history: list[dict[str, Any]]) -> None:
    """Epochs checkpointed but killed before their metrics reached MLflow are logged now (no gap, no duplicate)."""
    logged = tracker.logged_steps("train_loss")
    for row in history:
        if row["epoch"] not in logged:
            tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])


# --------------------------------------------------------------------------------------------- trainer

class Trainer:
    """One run: ``setup`` (model, data, resume, MLflow), the epochs, ``finish`` (test, run folder).

    What happens after each epoch is in ``hooks`` (:mod:`l2l.hooks`); they read the run's state here
    (history, model, tracker ...) and own theirs (the selected epoch, a received signal), which the
    checkpoint holds through their ``state_dict``.
    """

    def __init__(self, cfg: RunConfig, out_dir: str | Path, tags: Mapping[str, str] | None = None,
                 log: Callable[[str], None] = print, progress: bool = False,
                 hooks: list[HookBase] | None = None) -> None:
        self.cfg, self.out_dir, self.tags, self.log, self.progress = cfg, Path(out_dir), tags, log, progress
        self.hooks = hooks if hooks is not None else default_hooks()
        self.history: list[dict[str, Any]] = []
        self.start_epoch, self.t0, self.before_s = 0, time.time(), 0.0
        self.select_split = {"best_val": "val", "best_test": "test", "last": None}[cfg.train.selection]
        self.resume_path = self.out_dir / "resume.ckpt"
        self.fingerprint = cfg.fingerprint()

    # -- setup
    def setup(self) -> None:
        cfg = self.cfg
        claim_run_dir(self.out_dir)  # never overwrites a config.yaml that l2l train did not write
        torch.set_num_threads(cfg.train.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        self.device = resolve_device(cfg.train.device)  # auto: CUDA if present; the leased GPU if any
        self.data = load_prepared(cfg.data.path)
        if _scheduler_job():
            self.log(f"running as {_scheduler_job()}")
        write_yaml(self.out_dir / "config.yaml", cfg.to_dict())
        seed_everything(cfg.seed)
        model = build_model(cfg, len(self.data.attributes))
        if cfg.model.init_from:
            load_stage_one(cfg, model)
        self.model = model.to(self.device)
        self.settings = step_settings(cfg, self.device, self.model)
        if self.settings["channels_last"]:  # NHWC pays on CUDA tensor cores; within noise on CPU
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(cfg, self.model)
        self.scheduler = build_scheduler(cfg, self.optimizer)
        self.loss_fn = build_loss(cfg, self.data, self.device)
        self.train_batches, self.eval_batches = build_batches(cfg, self.data, self.device,
                                                              self.settings["channels_last"])
        if cfg.train.compile:
            self.model.compile()  # in place: state_dict keys stay those of the eager model
        ckpt = _load_resume(self.resume_path, self.fingerprint, self.log)
        if ckpt:
            check_resume_data(ckpt.get("data_sha256"), self.data.meta, self.data.root, self.resume_path)
            self.restore(ckpt)
        self.start_tracking(ckpt)

    def restore(self, ckpt: dict[str, Any]) -> None:
        fix = "delete it to start the run over (the dataset's attributes or the model changed since)"
        load_state_into(self.model, ckpt["model"], self.resume_path, fix)
        load_state_into(self.optimizer, ckpt["optimizer"], self.resume_path, fix)
        if self.scheduler and ckpt["scheduler"]:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.start_epoch, self.history = ckpt["epoch"] + 1, ckpt["history"]
        for hook in self.hooks:
            hook.load_state_dict(ckpt["hooks"].get(type(hook).__name__, {}))
        self.before_s = ckpt.get("elapsed_s", 0.0)  # training time of the earlier jobs of this run
        n, path = self.cfg.train.epochs, self.resume_path
        self.log(f"resuming from {path} at epoch {self.start_epoch + 1}/{n}" if self.start_epoch < n
                 else f"resuming from {path}: all {n} epochs done, testing and writing the run folder")

    def start_tracking(self, ckpt: dict[str, Any] | None) -> None:
        cfg, data = self.cfg, self.data
        run_name = self.tags["run_name"] if self.tags and "run_name" in self.tags else \
            f"{data.name}/{cfg.method}/{cfg.backbone}/seed{cfg.seed}"
        self.run_name = run_name  # its logged model's name too (l2l.tracking.Tracker.log_model)
        self.tracker = Tracker.start(resolve_uri(cfg.tracking.uri), cfg.tracking.experiment, run_name,
                                     _run_tags(cfg, data, self.fingerprint, self.tags, self.device), cfg.flat_params(),
                                     run_id=ckpt["run_id"] if ckpt else None)
        if cfg.tracking.system_metrics:  # MLflow's monitor: system/cpu_utilization_percentage, ...
            self.tracker.start_system_metrics(resume=bool(ckpt))
        if ckpt:
            # the job that finishes the run, not the first one
            self.tracker.set_tags({**_scheduler_tags(), **device_record(self.device), **version_tags()})
            _relog_missing_epochs(self.tracker, self.history)
            return
        try:  # the run id is on disk before any work, so even a kill in epoch 1 resumes in this MLflow run
            self.save_resume(-1)
            self.tracker.log_dataset_input(data.name, data.meta.get("labels_sha256", ""), str(data.root.resolve()),
                                           _dataset_profile(data, cfg))
        except BaseException:
            self.tracker.finish("FAILED")
            raise

    def save_resume(self, epoch: int) -> None:
        """resume.ckpt of the last finished epoch (0-based; -1 = before training)."""
        save_checkpoint(self.resume_path, {
            "elapsed_s": self.before_s + time.time() - self.t0, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None, "epoch": epoch,
            "history": plain(self.history), "hooks": self.hook_states(),
            "run_id": self.tracker.run_id, "fingerprint": self.fingerprint,
            "data_sha256": data_sha256(self.data.meta)})

    def hook_states(self) -> dict[str, dict[str, Any]]:
        """Every hook's state that is not empty, keyed by its class name (names must then be unique)."""
        states = {type(h).__name__: h.state_dict() for h in self.hooks}
        if len(states) < len(self.hooks):
            raise ValueError(f"hooks of one class twice: {[type(h).__name__ for h in self.hooks]}")
        return {name: state for name, state in states.items() if state}

    # -- epochs
    def eval_splits(self) -> list[str]:
        """Splits evaluated after each epoch: val (if any), and test when selection, per-metric
        selection or the plateau scheduler needs it."""
        t = self.cfg.train
        need_test = self.select_split == "test" or t.selection_per_metric or \
            (t.scheduler == "plateau" and t.plateau_on.startswith("test_"))
        return [s for s in ("val", "test") if s in self.eval_batches and (s == "val" or need_test)]

    def run_epoch(self, epoch: int, stop: Callable[[], bool]) -> dict[str, Any]:
        """Train one epoch and evaluate; the history row, or Preempted / NonFiniteLoss."""
        cfg, n = self.cfg, self.cfg.train.epochs
        seed = epoch_seed(cfg.seed, epoch)
        torch.manual_seed(seed)  # dropout, IC-MLM masks, RandAugment
        mixup = MixupPolicy(cfg.train.mixup_alpha, cfg.train.mixup_prob, cfg.train.mixup_label_embeddings,
                            np.random.default_rng(seed))
        te = time.time()
        loss = train_one_epoch(self.model, self.train_batches.set_epoch_seed(seed), self.optimizer, self.device,
                               self.loss_fn, cfg.train.grad_clip, self.settings["amp"], mixup, bar=self.progress,
                               desc=f"epoch {epoch + 1}/{n}", stop=stop)
        if loss is None:
            for hook in self.hooks:
                hook.on_stop(self, epoch)  # the hook that asked to stop raises (Preempted)
            raise RuntimeError(f"a hook asked to stop during epoch {epoch + 1} but none ended the run")
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"training loss is {loss} in epoch {epoch + 1} (MLflow run {self.tracker.run_id} "
                                f"marked FAILED); lower train.lr or set train.grad_clip; {self.resume_path} keeps "
                                + (f"the last good epoch ({epoch})" if epoch else "the weights before training"))
        train_s = time.time() - te
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss, "lr": self.optimizer.param_groups[0]["lr"],
                               "train_images_per_s": len(self.train_batches) / max(train_s, 1e-9)}
        with_loss = cfg.train.scheduler == "plateau" and cfg.train.plateau_on.endswith("_loss")
        loss_weights = split_loss_weights(self.model, cfg.train.plateau_loss)
        for s in self.eval_splits():
            mets = evaluate(self.model, self.eval_batches[s], self.device, self.data, self.settings["amp"],
                            self.loss_fn if with_loss else None, loss_weights, cfg.train.ma_undefined_half)
            row.update({f"{s}_{k}": v for k, v in M.scalar_metrics(mets).items()})
        return row

    def stop_requested(self) -> bool:
        return any(h.stop_requested() for h in self.hooks)

    def run(self) -> dict[str, Any]:
        """setup → epochs (hooks after each) → finish; the MLflow run ends FINISHED, KILLED or FAILED."""
        self.setup()
        try:
            for hook in self.hooks:
                hook.before_train(self)
            for epoch in range(self.start_epoch, self.cfg.train.epochs):
                row = self.run_epoch(epoch, self.stop_requested)
                self.history.append(row)
                for hook in self.hooks:
                    hook.after_epoch(self, row)
            result = self.finish()
            for hook in self.hooks:
                hook.after_train(self)
            self.log(f"test error {result['test']['error']:.2f}% (epoch {result['selected_epoch']} by "
                     f"{self.cfg.train.selection}) → {self.out_dir}")
            return result
        except Preempted:
            self.tracker.finish("KILLED")
            raise
        except BaseException:
            self.tracker.finish("FAILED")
            raise
        finally:
            for hook in self.hooks:
                hook.close()

    # -- finish
    def finish(self) -> dict[str, Any]:
        """Test the selected epoch and write the run folder; MLflow FINISHED last (resume.ckpt goes after)."""
        cfg, data, tracker = self.cfg, self.data, self.tracker
        selected: dict[str, Any] = {}
        for hook in self.hooks:  # EpochSelection puts the selected epoch's weights into the model
            selected.update(hook.before_test(self))
        probs, labels, _ = forward_split(self.model, self.eval_batches["test"], self.device, self.settings["amp"])
        test = split_metrics(self.model, probs, labels, data, ma_undefined_half=cfg.train.ma_undefined_half)
        write_image_errors(self.out_dir / IMAGE_ERRORS, probs[self.model.prediction_key], labels)
        result = {
            "test": test, **selected, "selection": cfg.train.selection,
            "epochs": cfg.train.epochs, "mlflow_run_id": tracker.run_id,
            "num_parameters": sum(p.numel() for p in self.model.parameters()),
            "train_seconds": time.time() - self.t0 + self.before_s,
            "config_fingerprint": self.fingerprint, "dataset_sha256": data.meta.get("labels_sha256", ""),
            "data_sha256": data_sha256(data.meta),
            "attributes": data.attributes, **device_record(self.device),
        }
        history = pd.DataFrame(self.history)
        atomic_write(self.out_dir / "history.csv", lambda p: history.to_csv(p, index=False))
        save_checkpoint(self.out_dir / "model.pt", {"model": self.model.state_dict(), "config": cfg.to_dict(),
                                                    "attributes": list(data.attributes)})
        write_json(self.out_dir / "metrics.json", result)
        if not tracker.logged_steps("test_error"):  # a rerun after a failure here must not log them twice
            tracker.log_metrics({f"test_{k}": v for k, v in M.scalar_metrics(test).items()},
                                step=result["selected_epoch"])
        tracker.set_tags({"selected_epoch": str(result["selected_epoch"])})
        for name in ("config.yaml", "metrics.json", "history.csv"):
            tracker.log_artifact(self.out_dir / name)
        tracker.log_weights(self.out_dir / "model.pt")  # with config.yaml: `l2l predict --run runs:/<id>`
        if cfg.tracking.log_model and not tracker.logged_models():  # MLflow's "Logged models" (docs/zoo.md)
            test_image = data.root / data.images[int(data.indices(cfg.data.test_split)[0])]
            tracker.log_model(self.out_dir, result["selected_epoch"], list(data.attributes), test_image,
                              name=self.run_name)
        tracker.finish("FINISHED")
        return result


def train(cfg: RunConfig, out_dir: str | Path, tags: Mapping[str, str] | None = None,
          log: Callable[[str], None] = print, progress: bool = False) -> dict[str, Any]:
    """Train one run end to end (resuming from ``resume.ckpt`` if present) and write the run folder.

    ``log`` gets one line per epoch (loss, val error, images/s, ETA); ``progress`` adds a per-batch
    bar for a terminal (the CLI turns it on only when stderr is a tty, so log files stay clean).
    """
    return Trainer(cfg, out_dir, tags, log, progress).run()
