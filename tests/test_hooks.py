"""Hooks own their state: it reaches resume.ckpt through state_dict / load_state_dict, and the Trainer
names no hook (l2l/engine.py uses only HookBase and default_hooks)."""

import ast
import inspect
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from l2l import hooks
from l2l.config import resolve
from l2l.engine import Trainer
from l2l.hooks import EpochSelection, LRSchedule

from helpers import REPO


def test_epoch_selection_state_survives_a_round_trip():
    cfg = resolve({"protocol": "official", "train": {"selection": "best_test", "selection_per_metric": ["mA", "f1"]}})
    model = nn.Linear(2, 1)
    view = SimpleNamespace(cfg=cfg, select_split="test", model=model)
    first = hooks.EpochSelection()
    row = {"epoch": 1, **{f"test_{m}": 50.0 for m in ("error", "mA", "accuracy", "precision", "recall", "f1")}}
    first.after_epoch(view, row)
    state = first.state_dict()
    again = hooks.EpochSelection()
    again.load_state_dict(state)
    assert again.best["epoch"] == 1 and again.per_metric == first.per_metric
    with torch.no_grad():
        model.weight.zero_()
    picked = again.before_test(view)  # the selected weights go back into the model
    assert torch.equal(model.weight, first.best["state"]["weight"]) and picked["selected_epoch"] == 1
    assert set(picked["selected_epochs"]) == set(first.per_metric)


def test_trainer_checkpoints_every_hook_state_by_class_name(tmp_path):
    class Counter(hooks.HookBase):
        def __init__(self):
            self.n = 0

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

    counter = Counter()
    counter.n = 3
    trainer = Trainer(resolve({}), tmp_path, hooks=[counter, hooks.EpochLog()])
    assert trainer.hook_states() == {"Counter": {"n": 3}}  # EpochLog keeps nothing


def test_the_engine_names_no_hook():
    names = {n for n, obj in vars(hooks).items() if inspect.isclass(obj) and issubclass(obj, hooks.HookBase)}
    used = {node.id for node in ast.walk(ast.parse((REPO / "l2l/engine.py").read_text())) if isinstance(node, ast.Name)}
    used |= {a.name for node in ast.walk(ast.parse((REPO / "l2l/engine.py").read_text()))
             if isinstance(node, ast.ImportFrom) for a in node.names}
    assert used & names == {"HookBase"}


# ---- LRSchedule and EpochSelection (moved from test_loop_switches.py) ----
def _trainer(cfg, scheduler=None, select="test"):
    return SimpleNamespace(cfg=cfg, scheduler=scheduler, select_split=select, model=nn.Linear(1, 1))


def test_plateau_steps_on_the_configured_split():
    rows = [{"epoch": e, "train_loss": 1.0 / e, "test_loss": float(e)} for e in (1, 2, 3)]  # test loss worsens
    lrs = {}
    for on in ("auto", "test_loss"):
        cfg = resolve({"protocol": "official", "train": {"scheduler": "plateau", "plateau_on": on, "plateau_patience": 0, "selection": "last"},
                       "data": {"val_split": None}})
        opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
        t = _trainer(cfg, torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0))
        for row in rows:
            LRSchedule().after_epoch(t, row)
        lrs[on] = opt.param_groups[0]["lr"]
    assert lrs["auto"] == 1.0  # no val split: the (falling) training loss, as before
    assert lrs["test_loss"] == pytest.approx(0.01)  # the rising test loss: two reductions


def test_per_metric_selection_keeps_each_metrics_best_epoch():
    every = ["error", "mA", "accuracy", "precision", "recall", "f1"]
    cfg = resolve({"protocol": "official", "train": {"selection": "best_test", "selection_per_metric": every}})
    t, selection = _trainer(cfg), EpochSelection()
    values = {1: (10.0, 70.0, 60.0), 2: (12.0, 80.0, 55.0), 3: (11.0, 75.0, 65.0)}  # error, mA, f1 per epoch
    for e, (err, ma, f1) in values.items():
        row = {"epoch": e, **{f"test_{m}": 50.0 for m in ("accuracy", "precision", "recall")},
               "test_error": err, "test_mA": ma, "test_f1": f1}
        row["test_accuracy"] = 40.0 + e  # rises every epoch
        selection.after_epoch(t, row)
    epochs = {m: v["epoch"] for m, v in selection.per_metric.items()}
    assert selection.best["epoch"] == 1 and epochs["error"] == 1 and epochs["mA"] == 2 and epochs["f1"] == 3
    assert epochs["accuracy"] == 3 and epochs["precision"] == 1  # ties keep the earlier epoch
    assert selection.per_metric["mA"]["test"] == 80.0


def test_official_pa100k_selection_three_best_epochs_and_the_weights_at_best_mA():
    """train.selection_metric mA + selection_per_metric [mA, accuracy, f1] (official PA-100K train.py): the
    three best epochs on hand-built rows, and the tested weights (model.pt) are those of the best-mA epoch,
    although another epoch has the lowest error."""
    cfg = resolve({"protocol": "official", "train": {"selection": "best_test", "selection_metric": "mA",
                                                     "selection_per_metric": ["mA", "accuracy", "f1"]}})
    model = nn.Linear(1, 1)
    view, selection = SimpleNamespace(cfg=cfg, select_split="test", model=model), EpochSelection()
    #        epoch: error, mA,   accuracy, f1,  precision, recall
    rows = {1: (9.0, 70.0, 60.0, 75.0, 90.0, 50.0),
            2: (11.0, 81.0, 58.0, 74.0, 70.0, 70.0),  # best mA, not best error
            3: (10.0, 80.0, 62.0, 73.0, 60.0, 80.0),  # best accuracy
            4: (12.0, 79.0, 61.0, 76.0, 50.0, 90.0)}  # best f1
    for e, values in rows.items():
        with torch.no_grad():
            model.weight.fill_(float(e))  # the weights remember their epoch
        row = dict(zip(("test_error", "test_mA", "test_accuracy", "test_f1", "test_precision", "test_recall"), values))
        selection.after_epoch(view, {"epoch": e, **row})
    picked = selection.before_test(view)
    assert picked["selected_epochs"] == {"mA": 2, "accuracy": 3, "f1": 4}
    assert picked["test_per_metric"] == {"mA": 81.0, "accuracy": 62.0, "f1": 76.0}
    assert picked["selected_epoch"] == 2 and picked["selection_metric"] == "mA" and picked["selection_value"] == 81.0
    assert model.weight.item() == 2.0  # model.pt and metrics.json test: the best-mA epoch
