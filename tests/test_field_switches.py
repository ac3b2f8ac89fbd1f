"""The training switches the field recipes need (issue 25): Adam with L2 weight decay, selection on a metric
other than error, and the weighted BCE of the Rethinking_of_PAR strong baseline (l2l/engine.py, l2l/hooks.py)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from l2l import hooks
from l2l.config import resolve
from l2l.engine import build_optimizer, masked_bce, pa100k_weights


class _TwoPart(nn.Module):  # build_optimizer splits backbone and head parameters
    def __init__(self):
        super().__init__()
        self.backbone, self.head = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)


def _one_zero_gradient_step(optimizer: str) -> float:
    """One step with a zero loss gradient: only the weight decay moves the weight (1.0)."""
    cfg = resolve({"train": {"optimizer": optimizer, "lr": 1e-4, "weight_decay": 5e-4, "device": "cpu"}})
    model = _TwoPart()
    with torch.no_grad():
        model.backbone.weight.fill_(1.0)
    opt = build_optimizer(cfg, model)
    model.backbone.weight.grad = torch.zeros_like(model.backbone.weight)
    model.head.weight.grad = torch.zeros_like(model.head.weight)
    opt.step()
    return float(model.backbone.weight)


def test_adam_puts_the_weight_decay_in_the_gradient_adamw_decouples_it():
    # Adam (Rethinking_of_PAR's train.py: torch.optim.Adam(param_groups), weight_decay 5e-4): the decay is a
    # gradient wd * w, which Adam normalises, so the first step moves the weight by ~lr. AdamW moves it by lr*wd*w.
    assert _one_zero_gradient_step("adam") == pytest.approx(1.0 - 1e-4, rel=0, abs=1e-7)
    assert _one_zero_gradient_step("adamw") == pytest.approx(1.0 - 1e-4 * 5e-4, rel=0, abs=1e-8)


def _par_bce(logits: np.ndarray, targets: np.ndarray, ratio: np.ndarray) -> float:
    """Rethinking_of_PAR's loss as its code computes it (losses/bceloss.py with tools/function.py ratio2weight,
    SIZESUM True): exp(neg*r + pos*(1-r)) weights, weight 0 where the target is 2, sum over attributes, batch mean."""
    x, t = torch.tensor(logits), torch.tensor(targets, dtype=torch.float64)
    loss_m = torch.nn.functional.binary_cross_entropy_with_logits(x, t.clamp(max=1), reduction="none")
    mask = (t > 0.5).double()
    r = torch.tensor(ratio)
    w = torch.exp(mask * (1 - r) + (1 - mask) * r)
    w[t > 1] = 0.0
    return float((loss_m * w).sum(1).mean())


def test_the_pa100k_weighting_with_sum_reduction_is_the_par_weighted_bce():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5))
    targets = rng.integers(0, 2, size=(6, 5)).astype(float)
    targets[1, 2] = targets[4, 0] = 2  # RAP's "uncertain": weight 0 there; l2l keeps it as unknown (-1)
    ratio = np.array([0.1, 0.5, 0.03, 0.7, 0.25])
    labels = torch.tensor(np.where(targets > 1, -1, targets), dtype=torch.float64)
    pos, neg = (w.double() for w in pa100k_weights(ratio))
    ours = masked_bce(torch.tensor(logits), labels, pos_weight=pos, neg_weight=neg, reduction="sum")
    assert float(ours) == pytest.approx(_par_bce(logits, targets, ratio), rel=1e-6)


def test_selection_metric_picks_the_epoch_of_the_best_ma_not_of_the_lowest_error():
    rows = [{"epoch": 0, "val_error": 10.0, "val_mA": 70.0}, {"epoch": 1, "val_error": 12.0, "val_mA": 75.0},
            {"epoch": 2, "val_error": 11.0, "val_mA": 72.0}]
    picked = {}
    for metric in ("error", "mA"):
        cfg = resolve({"train": {"selection_metric": metric}})
        view = SimpleNamespace(cfg=cfg, select_split="val", model=nn.Linear(1, 1))
        selection = hooks.EpochSelection()
        for row in rows:
            selection.after_epoch(view, row)
        picked[metric] = selection.before_test(view)["selected_epoch"]
    assert picked == {"error": 0, "mA": 1}
