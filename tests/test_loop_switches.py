"""Training-loop switches of the official protocols (issue 12): loss reduction and clamp, Mixup probability and
the label-embedding mix, the plateau scheduler's split, per-metric epoch selection."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from l2l.config import resolve
from l2l.data.mixup import draw_mix
from l2l.engine import MixupPolicy, masked_bce, train, train_one_epoch
from l2l.errors import UserError


def _bce(x, y):  # log(1 + e^x) - x*y, by hand
    return math.log(1 + math.exp(x)) - x * y


LOGITS = torch.tensor([[0.0, 2.0], [-1.0, 0.0]])
LABELS = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # one unknown label


def test_loss_reductions_on_a_hand_computed_batch():
    terms = [_bce(0, 1), _bce(2, 0), _bce(0, 1)]  # the three known labels
    assert masked_bce(LOGITS, LABELS).item() == pytest.approx(sum(terms) / 3)  # mean over known labels
    assert masked_bce(LOGITS, LABELS, reduction="sum").item() == pytest.approx(sum(terms) / 2)  # Σ attrs, mean batch
    clamped = [_bce(0, 1), _bce(1, 0), _bce(0, 1)]  # the logit 2 clipped to 1
    assert masked_bce(LOGITS, LABELS, clamp=1.0).item() == pytest.approx(sum(clamped) / 3)
    pos, neg = torch.tensor([2.0, 3.0]), torch.tensor([0.5, 0.25])
    weighted = [2.0 * _bce(0, 1), 0.25 * _bce(2, 0), 3.0 * _bce(0, 1)]
    assert masked_bce(LOGITS, LABELS, pos, neg, reduction="sum").item() == pytest.approx(sum(weighted) / 2)


def test_bad_switch_values_name_the_key():
    for over, key in (({"loss_reduction": "max"}, "train.loss_reduction"), ({"mixup_prob": 1.5}, "train.mixup_prob"),
                      ({"logit_clamp": 0}, "train.logit_clamp"), ({"plateau_on": "val"}, "train.plateau_on"),
                      ({"selection_per_metric": ["mA"], "selection": "last"}, "train.selection_per_metric"),
                      ({"selection_per_metric": ["mA", "mA"]}, "train.selection_per_metric"),
                      ({"selection_metric": "loss"}, "train.selection_metric"),
                      ({"plateau_loss": "mlm"}, "train.plateau_loss"),
                      ({"ma_undefined_half": "nan"}, "train.ma_undefined_half")):
        with pytest.raises(UserError, match=key):
            resolve({"train": over})


def test_mixup_probability_and_rng_policy():
    rng = np.random.default_rng(0)
    mixed = sum(draw_mix(8, 0.5, rng, prob=0.2) is not None for _ in range(4000))
    assert 0.17 < mixed / 4000 < 0.23
    a = [draw_mix(8, 0.5, np.random.default_rng(7)) for _ in range(2)]
    assert a[0].lam == a[1].lam and torch.equal(a[0].perm, a[1].perm)  # same seed, same mix
    assert draw_mix(8, 0.0, rng) is None and draw_mix(8, 0.5, rng, prob=0.0) is None


class Recorder(nn.Module):
    """A tiny real model whose forward records the Mixup keyword arguments it is given."""

    def __init__(self, accepts: bool):
        super().__init__()
        self.accepts_mix, self.seen = accepts, []
        self.lin = nn.Linear(3, 2)
        self.loss_weights = {"out": 1.0}

    def forward(self, x, **kw):
        self.seen.append((x.clone(), kw))
        return {"out": self.lin(x.mean((2, 3)))}


@pytest.mark.parametrize("accepts", [True, False])
def test_label_embedding_mix_passes_the_partners_labels(accepts):
    x = torch.arange(4, dtype=torch.float32).reshape(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, -1.0]])
    model = Recorder(accepts)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    policy = MixupPolicy(alpha=1.0, prob=1.0, label_embeddings=True, rng=np.random.default_rng(3))
    train_one_epoch(model, [(x, y)], opt, torch.device("cpu"), mixup=policy)
    mix = draw_mix(4, 1.0, np.random.default_rng(3))  # the same draw the loop made
    images, kw = model.seen[0]
    assert torch.allclose(images, mix.lam * x + (1 - mix.lam) * x[mix.perm])
    if accepts:
        assert kw["mix_lam"] == pytest.approx(mix.lam)
        assert torch.equal(kw["mix_labels"], torch.stack([y, y[mix.perm]]))  # own labels, partner's labels
    else:
        assert kw == {}


def test_engine_records_per_metric_epochs_and_steps_plateau_on_test(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = resolve({"protocol": "official", "method": "fc_head", "data": {"path": str(tiny_dataset)},
                   "train": {"epochs": 3, "batch_size": 32, "selection": "best_test", "selection_metric": "mA",
                             "selection_per_metric": ["mA", "accuracy", "f1"],
                             "scheduler": "plateau", "plateau_on": "test_loss", "loss_reduction": "sum",
                             "logit_clamp": 10.0, "mixup_alpha": 0.5, "mixup_prob": 0.5},
                   "tracking": {"uri": f"sqlite:///{tmp_path}/m.db", "experiment": "switches"}})
    result = train(cfg, tmp_path / "run", log=lambda m: None)
    hist = pd.read_csv(tmp_path / "run" / "history.csv")
    assert "test_loss" in hist and "val_error" in hist
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for m, e in saved["selected_epochs"].items():
        column = hist[f"test_{m}"]
        best = column.min() if m == "error" else column.max()
        assert column[e - 1] == best and saved["test_per_metric"][m] == pytest.approx(column[e - 1])
    # the official PA-100K selection: three metrics tracked, the tested weights (model.pt) at the best mA
    assert set(saved["selected_epochs"]) == {"mA", "accuracy", "f1"}
    e = saved["selected_epochs"]["mA"]
    assert e == result["selected_epoch"] and saved["selection_metric"] == "mA"
    for m in ("mA", "error", "precision", "recall"):  # metrics.json test = the best-mA epoch's test row
        assert saved["test"][m] == pytest.approx(hist[f"test_{m}"][e - 1]), m


@pytest.mark.parametrize("kill_at", [2, 3])  # 3: after the last epoch, everything comes from the checkpoint
def test_official_switches_resume_to_the_uninterrupted_result(tiny_dataset, tmp_path, monkeypatch, kill_at):
    """Per-metric bests, Mixup draws and the plateau state survive a kill (resume.ckpt, read weights-only)."""
    from l2l.tracking import Tracker

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = resolve({"protocol": "official", "method": "fc_head", "data": {"path": str(tiny_dataset), "augment": ["pad_crop"]},
                   "train": {"epochs": 3, "batch_size": 32, "selection": "best_test", "selection_metric": "mA",
                             "selection_per_metric": ["mA", "accuracy", "f1"],
                             "scheduler": "plateau", "plateau_on": "test_loss", "mixup_alpha": 0.5,
                             "mixup_prob": 0.5},
                   "tracking": {"uri": f"sqlite:///{tmp_path}/m.db", "experiment": "resume"}})
    reference = train(cfg, tmp_path / "ref", log=lambda m: None)
    real = Tracker.log_metrics

    def dies(self, metrics, step=None):
        if step == kill_at:
            raise KeyboardInterrupt  # a kill right after that epoch's checkpoint
        return real(self, metrics, step)

    monkeypatch.setattr(Tracker, "log_metrics", dies)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", log=lambda m: None)
    monkeypatch.setattr(Tracker, "log_metrics", real)
    resumed = train(cfg, tmp_path / "run", log=lambda m: None)
    for key in ("test", "selected_epochs", "test_per_metric", "selected_epoch"):
        assert resumed[key] == reference[key], key
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "run" / "history.csv").drop(columns="train_images_per_s"),
                                  pd.read_csv(tmp_path / "ref" / "history.csv").drop(columns="train_images_per_s"))


def test_randaugment_official_is_wired_last_with_n_and_m(tiny_dataset, monkeypatch):
    """data.augment randaugment_official calls l2l.data.official_augment.official_randaugment(n, m) per image,
    after pad_crop (a stand-in op that paints each image grey: a padded border after it would show)."""
    import sys
    import types

    from l2l.data import load_prepared
    from l2l.data.loader import normalize
    from l2l.engine import build_batches

    calls = []

    def official_randaugment(n, m, generator=None):
        calls.append((n, m))
        return lambda img: torch.full_like(img, 200)

    monkeypatch.setitem(sys.modules, "l2l.data.official_augment",
                        types.SimpleNamespace(official_randaugment=official_randaugment))
    cfg = resolve({"data": {"path": str(tiny_dataset), "augment": ["randaugment_official", "pad_crop"],
                            "randaugment_n": 3, "randaugment_m": 7}, "train": {"batch_size": 32}})
    train_batches, evals = build_batches(cfg, load_prepared(tiny_dataset), torch.device("cpu"), False)
    x, _ = next(iter(train_batches.set_epoch_seed(0)))
    assert calls and set(calls) == {(3, 7)}
    assert torch.equal(x, normalize(torch.full_like(x, 200, dtype=torch.uint8)))
    calls.clear()
    next(iter(evals["test"]))
    assert calls == []  # never at evaluation


def test_epoch_loss_is_the_sample_weighted_mean_of_the_step_losses(tiny_dataset):
    from l2l.data import load_prepared
    from l2l.data.batched import CachedBatches
    from l2l.data.cache import load_cache
    from l2l.engine import model_loss
    from l2l.models import create_model

    data = load_prepared(tiny_dataset)
    batches = CachedBatches([load_cache(data, "train", (32, 32))], data.labels[data.indices("train")], 40, "cpu",
                            train=True)  # 96 images: batches of 40, 40, 16
    torch.manual_seed(0)
    model = create_model("fc_head", "small_cnn", len(data.attributes))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay: the steps' losses can be recomputed
    got = train_one_epoch(model, batches.set_epoch_seed(5), opt, torch.device("cpu"))
    model.train()
    with torch.no_grad():
        parts = [(model_loss(model, model(x), y).item(), len(y)) for x, y in batches.set_epoch_seed(5)]
    assert [n for _, n in parts] == [40, 40, 16]
    assert got == pytest.approx(sum(v * n for v, n in parts) / 96, rel=1e-6)


class TwoLogits(nn.Module):
    """A head-like model whose input is its logits: columns 0-1 the AQN's, 2-3 the IC-MLM's (the prediction)."""

    prediction_key = "mlm"
    loss_weights = {"aqn": 1.0, "mlm": 1.0}

    def forward(self, x):
        return {"aqn": x[:, :2], "mlm": x[:, 2:]}


def test_plateau_scheduler_is_fed_the_ic_mlm_loss_alone():
    """train.plateau_loss: prediction = the loss of the IC-MLM logits alone (official PA-100K valid_trainer);
    total = AQN + IC-MLM (ours). Two epochs in which the AQN improves and the IC-MLM gets worse: the
    plateau scheduler (patience 0) cuts the learning rate only when it watches the IC-MLM loss."""
    from l2l.engine import forward_split, split_loss_weights
    from l2l.hooks import LRSchedule

    y = torch.tensor([[1.0, 0.0]])
    epochs = [torch.tensor([[0.0, 0.0, 2.0, -2.0]]), torch.tensor([[4.0, -4.0, 0.0, 0.0]])]
    aqn = [2 * _bce(0, 1) / 2, (_bce(4, 1) + _bce(-4, 0)) / 2]  # masked_bce: mean over the 2 attributes
    mlm = [(_bce(2, 1) + _bce(-2, 0)) / 2, 2 * _bce(0, 1) / 2]
    model = TwoLogits()
    lrs = {}
    for which in ("total", "prediction"):
        cfg = resolve({"protocol": "official", "train": {"scheduler": "plateau", "plateau_on": "test_loss",
                                                         "plateau_loss": which, "plateau_patience": 0,
                                                         "selection": "last"}, "data": {"val_split": None}})
        opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
        view = SimpleNamespace(cfg=cfg, scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1,
                                                                                           patience=0))
        for e, logits in enumerate(epochs):
            _, _, loss = forward_split(model, [(logits, y)], torch.device("cpu"), loss_fn=masked_bce,
                                       loss_weights=split_loss_weights(model, which))
            assert loss == pytest.approx(mlm[e] if which == "prediction" else aqn[e] + mlm[e])
            LRSchedule().after_epoch(view, {"epoch": e + 1, "test_loss": loss})
        lrs[which] = opt.param_groups[0]["lr"]
    assert aqn[1] + mlm[1] < aqn[0] + mlm[0] and mlm[1] > mlm[0]
    assert lrs == {"total": 1.0, "prediction": pytest.approx(0.1)}


def test_the_engine_logs_the_prediction_loss_as_the_plateau_column(tiny_dataset, tmp_path, monkeypatch):
    """Wiring: with plateau_loss prediction, history's test_loss is the IC-MLM loss of the trained weights."""
    from l2l.checkpoint import load_checkpoint
    from l2l.data import load_prepared
    from l2l.engine import build_batches, build_loss, build_model, forward_split, split_loss_weights

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = resolve({"protocol": "official", "method": "label2label", "data": {"path": str(tiny_dataset)},
                   "model": {"ffn_dim": 32},
                   "train": {"epochs": 1, "batch_size": 32, "selection": "last", "scheduler": "plateau",
                             "plateau_on": "test_loss", "plateau_loss": "prediction"},
                   "tracking": {"uri": f"sqlite:///{tmp_path}/m.db", "experiment": "plateau_loss"}})
    train(cfg, tmp_path / "run", log=lambda m: None)
    logged = pd.read_csv(tmp_path / "run" / "history.csv")["test_loss"][0]
    data, cpu = load_prepared(str(tiny_dataset)), torch.device("cpu")
    model = build_model(cfg, len(data.attributes))
    model.load_state_dict(load_checkpoint(tmp_path / "run" / "model.pt", "")["model"])
    test = build_batches(cfg, data, cpu, False)[1]["test"]
    losses = {w: forward_split(model, test, cpu, loss_fn=build_loss(cfg, data, cpu),
                               loss_weights=split_loss_weights(model, w))[2] for w in ("prediction", "total")}
    assert logged == pytest.approx(losses["prediction"], rel=1e-5) and losses["total"] > losses["prediction"]
