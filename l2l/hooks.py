"""The training loop's hooks (detectron2's HookBase style): each concern of an epoch's end in one class.

:class:`l2l.engine.Trainer` runs the phases (setup, epochs, finish) and calls, in list order,
``before_train`` once, ``after_epoch(row)`` after every epoch's training and evaluation, and
``after_train`` once. The order of :func:`default_hooks` is part of the resume contract: the
checkpoint is written *before* the epoch's metrics go to MLflow.
"""

from __future__ import annotations

import copy
import signal
import time
from typing import TYPE_CHECKING, Any

from l2l import metrics as M
from l2l.errors import Preempted

if TYPE_CHECKING:
    from l2l.engine import Trainer


class HookBase:
    """Override what a hook needs; ``trainer`` gives access to the run's state."""

    def before_train(self, trainer: "Trainer") -> None:
        pass

    def after_epoch(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        pass

    def after_train(self, trainer: "Trainer") -> None:
        pass


class LRSchedule(HookBase):
    """Step the scheduler: cosine per epoch; plateau on ``train.plateau_on`` (auto: val_error, else train loss)."""

    def after_epoch(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        if trainer.scheduler is None:
            return
        if trainer.cfg.train.scheduler == "plateau":
            trainer.scheduler.step(row[plateau_key(trainer.cfg, row)])
        else:
            trainer.scheduler.step()


def plateau_key(cfg, row: dict[str, Any]) -> str:
    """The history column ReduceLROnPlateau watches."""
    on = cfg.train.plateau_on
    if on == "auto":
        return "val_error" if "val_error" in row else "train_loss"
    return on


class EpochSelection(HookBase):
    """Keep the weights of the selected epoch (best on the selection split's error, or the last), and with
    ``train.selection_per_metric`` each metric's own best epoch and its test value (official PA-100K)."""

    def after_epoch(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        split, best = trainer.select_split, trainer.best
        key = f"{split}_error"
        if split is None or M.is_better("error", row[key], best["value"]):
            trainer.best = {"value": row.get(key), "epoch": row["epoch"],
                            "state": copy.deepcopy(trainer.model.state_dict())}
        if trainer.cfg.train.selection_per_metric:
            for m in M.METRICS:
                old = trainer.per_metric.get(m)
                if old is None or M.is_better(m, row[f"{split}_{m}"], old["selection_value"]):
                    trainer.per_metric[m] = {"epoch": row["epoch"], "selection_value": row[f"{split}_{m}"],
                                             "test": row[f"test_{m}"]}


class Checkpointer(HookBase):
    """resume.ckpt after every epoch (before MLflow sees the epoch); removed once the run FINISHED."""

    def after_epoch(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        trainer.save_resume(row["epoch"] - 1)

    def after_train(self, trainer: "Trainer") -> None:
        trainer.resume_path.unlink(missing_ok=True)


class MLflowMetrics(HookBase):
    """The epoch's row as MLflow metrics at step = epoch."""

    def after_epoch(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        trainer.tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])


class EpochLog(HookBase):
    """One log line per epoch: loss, val error, images/s and the ETA of this job."""

    def after_epoch(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        n, done = trainer.cfg.train.epochs, row["epoch"] - trainer.start_epoch
        eta = (time.time() - trainer.t0) / done * (n - row["epoch"])
        trainer.log(f"epoch {row['epoch']}/{n} loss {row['train_loss']:.4f}"
                    + (f" val_error {row['val_error']:.2f}%" if "val_error" in row else "")
                    + f" {row['train_images_per_s']:.0f} img/s eta {eta:.0f}s")


class Preemption(HookBase):
    """SIGTERM/SIGUSR1/SIGINT (SLURM preemption or time limit, Snakemake abort, Ctrl-C) become a flag,
    checked between batches and after each epoch: the job stops with the last epoch checkpointed. A
    second Ctrl-C interrupts at once; repeated SIGTERMs only keep the flag. A signal after the last
    epoch lets the run finish (seconds) rather than ask for a rerun."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def before_train(self, trainer: "Trainer") -> None:
        for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = self.received or signum

    def stop_requested(self) -> bool:
        return self.received is not None

    def after_epoch(self, trainer: "Trainer", row: dict[str, Any]) -> None:
        n = trainer.cfg.train.epochs
        if self.received is not None and row["epoch"] < n:
            raise Preempted(f"signal {self.received} received; {trainer.resume_path} keeps epoch {row['epoch']}/"
                            f"{n}: re-run the same command to resume", self.received)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def default_hooks() -> list[HookBase]:
    """Scheduler, selection, checkpoint, MLflow, log line, preemption: in this order."""
    return [LRSchedule(), EpochSelection(), Checkpointer(), MLflowMetrics(), EpochLog(), Preemption()]
