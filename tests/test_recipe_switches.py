"""The recipe switches the paper's datasets need: augmentations, Mixup, and the official-code details."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from l2l.config import resolve
from l2l.data.loader import build_transform
from l2l.data.mixup import apply_mix, draw_mix
from l2l.engine import masked_bce, train
from l2l.errors import UserError
from l2l.models import create_model
from helpers import list_runs


def test_mixup_mixes_pairs_and_keeps_unknowns_unknown():
    torch.manual_seed(0)
    b, m = 8, 5
    images = torch.eye(b).reshape(b, b, 1, 1)  # image i is the one-hot e_i: the mix reveals lam and the pair
    labels = torch.randint(0, 2, (b, m)).float()
    labels[torch.rand(b, m) < 0.3] = -1
    mixed_images, mixed = apply_mix(images, labels, draw_mix(len(images), 0.4, np.random.default_rng(0)))
    checked = 0
    for i in range(b):
        row = mixed_images[i].flatten()
        others = [j for j in range(b) if j != i and row[j] > 0]
        if not others:  # paired with itself: unchanged
            assert torch.equal(mixed[i], labels[i])
            continue
        (j,), lam = others, float(row[i])
        assert lam + float(row[j]) == pytest.approx(1.0)
        unknown = (labels[i] < 0) | (labels[j] < 0)
        assert torch.equal(mixed[i] < 0, unknown)
        expected = lam * labels[i] + (1 - lam) * labels[j]
        assert torch.allclose(mixed[i][~unknown], expected[~unknown])
        checked += 1
    assert checked >= 4
    # the masked BCE ignores the unknowns of the mix
    logits = torch.randn(b, m)
    changed = logits.clone()
    changed[mixed < 0] = 99.0
    assert torch.allclose(masked_bce(logits, mixed), masked_bce(changed, mixed))
    assert apply_mix(images, labels, draw_mix(len(images), 0.0, np.random.default_rng(0)))[1] is labels


def test_augmentations_keep_the_size_and_only_apply_in_training():
    img = torch.randint(0, 256, (3, 40, 30), dtype=torch.uint8)
    for aug in (["pad_crop"], ["randaugment"], ["pad_crop", "hflip", "randaugment"]):
        t = build_transform([32, 24], aug, train=True)
        assert t(img).shape == (3, 32, 24) and t(img).dtype == torch.float32
    torch.manual_seed(0)
    crop = build_transform([32, 24], ["pad_crop"], train=True)
    outs = {tuple(crop(img).flatten()[:50].tolist()) for _ in range(8)}
    assert len(outs) > 1  # random crops differ
    plain = build_transform([32, 24], ["pad_crop", "randaugment"], train=False)
    assert torch.equal(plain(img), plain(img))
    with pytest.raises(UserError, match="unknown augmentation"):
        build_transform([32, 24], ["cutout"], train=True)


def _words_seen(head):
    seen = {}
    orig = head.mlm.embedding.forward

    def spy(words, masked):
        seen["words"] = words
        return orig(words, masked)

    head.mlm.embedding.forward = spy
    return seen


def test_logit_bn_both_thresholds_pseudo_labels_after_the_bn():
    model = create_model("label2label", "small_cnn", 6, ffn_dim=32, logit_bn="both", mask_ratio=0.0).eval()
    head = model.head
    assert isinstance(head.aqn_bn, nn.BatchNorm1d) and isinstance(head.mlm_bn, nn.BatchNorm1d)
    seen = _words_seen(head)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        head.aqn_bn.bias.fill_(100.0)
        out = model(x)
        assert (out["aqn"] > 50).all() and (seen["words"] == 1).all()
        head.aqn_bn.bias.fill_(-100.0)
        model(x)
        assert (seen["words"] == 0).all()
        head.mlm_bn.bias.fill_(7.0)
        head.mlm_bn.weight.fill_(0.0)
        assert torch.allclose(model(x)["mlm"], torch.full((3, 6), 7.0))


def test_logit_bn_mlm_only_and_on_single_head_methods():
    l2l = create_model("label2label", "small_cnn", 6, ffn_dim=32, logit_bn="mlm").head
    assert isinstance(l2l.aqn_bn, nn.Identity) and isinstance(l2l.mlm_bn, nn.BatchNorm1d)
    assert isinstance(create_model("aqn", "small_cnn", 6, ffn_dim=32, logit_bn="both").head.logit_bn, nn.BatchNorm1d)
    assert isinstance(create_model("fc_head", "small_cnn", 6, logit_bn="both").head.logit_bn, nn.BatchNorm1d)
    assert isinstance(create_model("fc_head", "small_cnn", 6, logit_bn="mlm").head.logit_bn, nn.Identity)


def test_mlm_dropout_is_separate_from_the_aqn_dropout():
    head = create_model("label2label", "small_cnn", 4, ffn_dim=32, dropout=0.1, mlm_dropout=0.3).head
    assert {d.p for d in head.mlm.decoder.modules() if isinstance(d, nn.Dropout)} == {0.3}
    assert {d.p for d in head.aqn.decoder.modules() if isinstance(d, nn.Dropout)} == {0.1}
    same = create_model("label2label", "small_cnn", 4, ffn_dim=32, dropout=0.2).head
    assert {d.p for d in same.mlm.decoder.modules() if isinstance(d, nn.Dropout)} == {0.2}


def test_frozen_bn_statistics_and_affine_do_not_change_in_a_train_step():
    torch.manual_seed(0)
    model = create_model("fc_head", "small_cnn", 4, freeze_bn=True)
    bns = [m for m in model.backbone.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert bns and not any(isinstance(m, nn.BatchNorm2d) for m in model.backbone.modules())
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    conv_before = model.backbone.body[0][0].weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    loss = masked_bce(model(torch.randn(4, 3, 32, 32) * 3 + 1)["fc"], torch.randint(0, 2, (4, 4)).float())
    loss.backward()
    opt.step()
    after = model.backbone.state_dict()
    for k, v in before.items():
        if any(s in k for s in ("running_mean", "running_var")) or k.endswith((".1.weight", ".1.bias")):
            assert torch.equal(v, after[k]), k  # BN buffers (stats, scale, shift) untouched
    assert not torch.equal(conv_before, model.backbone.body[0][0].weight)  # the convs did train


def test_bad_switch_values_are_clear_errors():
    with pytest.raises(UserError, match="model.logit_bn must be one of none, mlm, both"):
        resolve({"model": {"logit_bn": "aqn"}})
    with pytest.raises(UserError, match="train.mixup_alpha must be >= 0"):
        resolve({"train": {"mixup_alpha": -1}})


def test_engine_trains_with_every_switch_on_and_tags_leaky_selection(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = resolve({
        "method": "label2label", "protocol": "official",  # clean refuses selection on the test split
        "model": {"ffn_dim": 32, "logit_bn": "both", "freeze_bn": True, "mlm_dropout": 0.3, "feature_dropout": 0.1,
                  "label_embedding_init": "normal", "aqn_encoder_layers": 1, "aqn_layers": 2},
        "train": {"epochs": 1, "batch_size": 19, "mixup_alpha": 0.2, "grad_clip": 10.0, "selection": "best_test",
                  "loss_weighting": "pa100k"},
        "data": {"path": str(tiny_dataset), "augment": ["pad_crop", "randaugment"]},
        "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "switches"},
    })
    result = train(cfg, tmp_path / "run", log=lambda m: None)  # 96 = 5 x 19 + 1: the lone last image is dropped (BatchNorm1d cannot train on 1)
    assert 0 <= result["test"]["error"] <= 100
    (run,) = list_runs(f"sqlite:///{tmp_path}/mlflow.db", "switches")
    assert run.data.tags["selection"] == "best_test" and run.data.tags["leaky_selection"] == "true"
    assert run.data.params["train.mixup_alpha"] == "0.2" and run.data.params["model.logit_bn"] == "both"


def test_augment_order_listed_applies_randaugment_before_the_flip(monkeypatch):
    """data.augment_order: fixed flips first whatever the list says; listed follows the list, as the official
    LFWA dataset.py does ([randaugment_official, hflip]: RandAugment, then the flip). The stand-in
    RandAugment paints each image's left column white, so the order shows in which column is white."""
    import l2l.data.augment as A

    def paint_left(n, m):
        def op(img):
            out = img.clone()
            out[..., 0] = 255
            return out
        return op

    monkeypatch.setattr(A, "official_op", paint_left)
    x = torch.zeros(16, 3, 4, 5, dtype=torch.uint8)
    flipped = torch.rand(16, generator=torch.Generator().manual_seed(3)) < 0.5  # hflip's draw for this seed
    assert 0 < int(flipped.sum()) < 16
    augment = ["randaugment_official", "hflip"]
    fixed = A.augment_batch(x, augment, torch.Generator().manual_seed(3))
    listed = A.augment_batch(x, augment, torch.Generator().manual_seed(3), order="listed")
    assert (fixed[..., 0] == 255).all() and (fixed[..., 1:] == 0).all()  # flip, then paint: always left
    for i, f in enumerate(flipped.tolist()):  # paint, then flip: the flipped images are white on the right
        assert (listed[i, ..., -1 if f else 0] == 255).all() and int((listed[i] == 255).sum()) == 3 * 4
    assert A.application_order(["hflip", "pad_crop"], "fixed") == ["pad_crop", "hflip"]
    assert A.application_order(["hflip", "pad_crop"], "listed") == ["hflip", "pad_crop"]
