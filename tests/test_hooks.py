"""Hooks own their state: it reaches resume.ckpt through state_dict / load_state_dict, and the Trainer
names no hook (l2l/engine.py uses only HookBase and default_hooks)."""

import ast
import inspect
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from l2l import hooks
from l2l.config import resolve
from l2l.engine import Trainer

REPO = Path(__file__).resolve().parents[1]


def test_epoch_selection_state_survives_a_round_trip():
    cfg = resolve({"protocol": "official", "train": {"selection": "best_test", "selection_per_metric": True}})
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
