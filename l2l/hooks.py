"""The training loop's hooks (detectron2's HookBase style): each concern of an epoch's end in one class.

:class:`l2l.engine.Trainer` runs the phases (setup, epochs, finish) and calls, in list order,
``before_train`` once, ``after_epoch(row)`` after every epoch's training and evaluation,
``before_test`` once before the selected weights are tested, and ``after_train`` once. The order of
:func:`default_hooks` is part of the resume contract: the checkpoint is written *before* the epoch's
metrics go to MLflow.

A hook owns its state (the selected epoch, a received signal): the Trainer puts every hook's
``state_dict()`` into resume.ckpt and gives it back through ``load_state_dict`` on resume, without
knowing any hook by name. Hooks see the Trainer through :class:`TrainerView` (this module imports
nothing from the engine).
"""

from __future__ import annotations

import copy
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from l2l import metrics as M
from l2l.checkpoint import plain
from l2l.errors import Preempted


class TrainerView(Protocol):
    """What hooks read of :class:`l2l.engine.Trainer` (and call: ``save_resume``, ``log``)."""

    cfg: Any  # l2l.config.RunConfig
    model: Any  # torch.nn.Module
    scheduler: Any
    tracker: Any  # l2l.tracking.Tracker
    select_split: str | None
    start_epoch: int
    t0: float
    resume_path: Path
    log: Callable[[str], None]

    def save_resume(self, epoch: int) -> None: ...


class HookBase:
    """Override what a hook needs; ``trainer`` gives access to the run's state."""

    def before_train(self, trainer: TrainerView) -> None:
        pass

    def after_epoch(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        pass

    def before_test(self, trainer: TrainerView) -> dict[str, Any]:
        """After the last epoch: may load the weights to test into the model; entries for metrics.json."""
        return {}

    def after_train(self, trainer: TrainerView) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """What resume.ckpt keeps of this hook (tensors and plain containers; empty: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def stop_requested(self) -> bool:
        """True asks the loop to stop between two batches; :meth:`on_stop` then says why."""
        return False

    def on_stop(self, trainer: TrainerView, epoch: int) -> None:
        """The epoch (0-based) was abandoned because this or another hook asked to stop: raise to end the run."""

    def close(self) -> None:
        """Always called when the run ends, however it ends (undo what ``before_train`` installed)."""


class LRSchedule(HookBase):
    """Step the scheduler: cosine per epoch; plateau on ``train.plateau_on`` (auto: val_error, else train loss)."""

    def after_epoch(self, trainer: TrainerView, row: dict[str, Any]) -> None:
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
    """Keep the weights of the selected epoch (best on the selection split's ``train.selection_metric``, error
    unless set; mA for the Rethinking_of_PAR recipes; or the last), and with
    ``train.selection_per_metric`` each metric's own best epoch and its test value (official PA-100K)."""

    def __init__(self) -> None:
        self.best: dict[str, Any] = {"value": None, "epoch": None, "state": None}
        self.per_metric: dict[str, dict[str, Any]] = {}

    def after_epoch(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        split, metric = trainer.select_split, trainer.cfg.train.selection_metric
        key = f"{split}_{metric}"
        if split is None or M.is_better(metric, row[key], self.best["value"]):
            self.best = {"value": row.get(key), "epoch": row["epoch"],
                         "state": copy.deepcopy(trainer.model.state_dict())}
        if trainer.cfg.train.selection_per_metric:
            for m in M.METRICS:
                old = self.per_metric.get(m)
                if old is None or M.is_better(m, row[f"{split}_{m}"], old["selection_value"]):
                    self.per_metric[m] = {"epoch": row["epoch"], "selection_value": row[f"{split}_{m}"],
                                          "test": row[f"test_{m}"]}

    def before_test(self, trainer: TrainerView) -> dict[str, Any]:
        """The selected epoch's weights go into the model; metrics.json records which epoch that was."""
        trainer.model.load_state_dict(self.best["state"])
        out = {"selected_epoch": self.best["epoch"], "selection_value": self.best["value"]}
        if self.per_metric:  # official PA-100K: each metric at its own best epoch
            out["selected_epochs"] = {m: v["epoch"] for m, v in self.per_metric.items()}
            out["test_per_metric"] = {m: v["test"] for m, v in self.per_metric.items()}
        return out

    def state_dict(self) -> dict[str, Any]:
        best = {**plain({k: v for k, v in self.best.items() if k != "state"}), "state": self.best["state"]}
        return {"best": best, "per_metric": plain(self.per_metric)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.per_metric = state.get("per_metric") or {}


class Checkpointer(HookBase):
    """resume.ckpt after every epoch (before MLflow sees the epoch); removed once the run FINISHED."""

    def after_epoch(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        trainer.save_resume(row["epoch"] - 1)

    def after_train(self, trainer: TrainerView) -> None:
        trainer.resume_path.unlink(missing_ok=True)


class MLflowMetrics(HookBase):
    """The epoch's row as MLflow metrics at step = epoch."""

    def after_epoch(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        trainer.tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])


class EpochLog(HookBase):
    """One log line per epoch: loss, val error, images/s and the ETA of this job."""

    def after_epoch(self, trainer: TrainerView, row: dict[str, Any]) -> None:
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

    def before_train(self, trainer: TrainerView) -> None:
        for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = self.received or signum

    def stop_requested(self) -> bool:
        return self.received is not None

    def on_stop(self, trainer: TrainerView, epoch: int) -> None:
        if self.received is not None:
            n = trainer.cfg.train.epochs
            raise Preempted(f"signal {self.received} received during epoch {epoch + 1}/{n}; "
                            f"{trainer.resume_path} keeps epoch {epoch}: re-run the same command to resume",
                            self.received)

    def after_epoch(self, trainer: TrainerView, row: dict[str, Any]) -> None:
        n = trainer.cfg.train.epochs
        if self.received is not None and row["epoch"] < n:
            raise Preempted(f"signal {self.received} received; {trainer.resume_path} keeps epoch {row['epoch']}/"
                            f"{n}: re-run the same command to resume", self.received)

    def close(self) -> None:
        """Put back the signal handlers that were there before the run."""
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def default_hooks() -> list[HookBase]:
    """Scheduler, selection, checkpoint, MLflow, log line, preemption: in this order."""
    return [LRSchedule(), EpochSelection(), Checkpointer(), MLflowMetrics(), EpochLog(), Preemption()]
