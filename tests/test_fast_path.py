"""The fast path: image cache, batched augmentation, and equivalence with the per-sample path."""

import json
import shutil

import numpy as np
import pytest
import torch

from l2l.cli import main
from l2l.data import load_prepared
from l2l.data.batched import Batches, CachedBatches, FileImages, hflip, pad_crop, pad_pixels
from l2l.data.mixup import apply_mix, draw_mix
from l2l.data.cache import build_cache, cache_path, check_cache, load_cache
from l2l.data.loader import AttributeImageDataset, DecodedImages
from l2l.engine import build_model, build_optimizer, masked_bce, step_settings, train, train_step
from l2l.errors import UserError

from helpers import run_config


@pytest.fixture()
def dataset_copy(tiny_dataset, tmp_path):
    return shutil.copytree(tiny_dataset, tmp_path / "data")


def test_cache_holds_the_loaders_pixels(dataset_copy):
    data = load_prepared(dataset_copy)
    arr = load_cache(data, "val", (24, 20))
    assert arr.shape == (32, 3, 24, 20) and arr.dtype == np.uint8
    assert cache_path(dataset_copy, "val", (24, 20)).is_file()
    ds = AttributeImageDataset(data, "val", (24, 20))
    for i in (0, 17, 31):
        assert torch.equal(torch.from_numpy(np.array(arr[i])), ds._decode(i))


def test_stale_or_missing_cache_is_a_clear_error(dataset_copy):
    data = load_prepared(dataset_copy)
    with pytest.raises(UserError, match="cache missing.*l2l cache --data"):
        check_cache(data, "train", (16, 16))
    path = build_cache(data, "train", (16, 16))
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({**meta, "labels_sha256": "0" * 64}))
    with pytest.raises(UserError, match="stale.*rebuild it with `l2l cache"):
        load_cache(data, "train", (16, 16))
    build_cache(data, "train", (16, 16))  # a stale cache is rebuilt by an explicit build
    check_cache(data, "train", (16, 16))


def test_cli_cache_and_bad_split(dataset_copy, capsys):
    assert main(["cache", "--data", str(dataset_copy), "--image-size", "16", "16"]) == 0
    assert all(cache_path(dataset_copy, s, (16, 16)).is_file() for s in ("train", "val", "test"))
    assert main(["cache", "--data", str(dataset_copy), "--image-size", "16", "16", "--split", "nope"]) == 2
    assert "split 'nope' has no images" in capsys.readouterr().err


def test_batched_augmentations():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (64, 3, 8, 10), dtype=torch.uint8)
    f = hflip(x, gen)
    flipped = [torch.equal(f[i], x[i].flip(-1)) for i in range(64)]
    kept = [torch.equal(f[i], x[i]) for i in range(64)]
    assert all(a or b for a, b in zip(flipped, kept)) and 15 < sum(flipped) < 49
    c = pad_crop(x, 2, gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(8):  # every output is some 8×10 window of its own padded image
        assert any(torch.equal(c[i], padded[i, :, dy:dy + 8, dx:dx + 10]) for dy in range(5) for dx in range(5))
    assert pad_pixels((256, 192)) == 10 and pad_pixels((32, 32)) == 2
    y = torch.tensor([[1.0, 0.0, -1.0], [0.0, -1.0, 1.0]])
    xm, ym = apply_mix(torch.ones(2, 3, 2, 2), y, draw_mix(2, 0.4, np.random.default_rng(0)))
    assert (ym[:, 1:] == -1).all() or (ym == y).all()  # unknown in either image stays unknown
    assert ((ym == -1) | ((ym >= 0) & (ym <= 1))).all()


def test_cached_batches_order_determinism_and_normalisation(tiny_dataset):
    data = load_prepared(tiny_dataset)
    arr = load_cache(data, "train", (32, 32))
    labels = data.labels[data.indices("train")]
    ev = CachedBatches([arr[:40], arr[40:]], labels, 50, "cpu")  # two parts: logically concatenated
    images, y = zip(*ev)
    ds = AttributeImageDataset(data, "train", (32, 32))
    assert torch.equal(torch.cat(images)[57], ds[57][0]) and torch.equal(torch.cat(y), ds.labels)
    tr = CachedBatches([arr], labels, 32, "cpu", augment=["hflip", "pad_crop", "randaugment"], train=True)
    torch.manual_seed(0)  # RandAugment draws from the global RNG, which the engine seeds per epoch
    a = [b[0] for b in tr.set_epoch_seed(3)]
    torch.manual_seed(0)
    b = [b[0] for b in tr.set_epoch_seed(3)]
    c = [b[0] for b in tr.set_epoch_seed(4)]
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and not torch.equal(a[0], c[0])
    assert [len(t) for t in a] == [32, 32, 32]


def _cfg(dataset, tmp_path, **data):
    return run_config(dataset, tmp_path, "fast", model={"ffn_dim": 32},
                      train={"epochs": 1, "batch_size": 32, "selection": "last"}, data=data)


@pytest.mark.parametrize("method", ["fc_head", "label2label"])
def test_one_step_fast_equals_plain_fp32(tiny_dataset, tmp_path, method):
    """Same weights, same batch: the step the engine really runs on this device (its cache batches, its
    memory format, its optimizer implementation, its autocast) gives the plain fp32 step's loss and weights."""
    data = load_prepared(tiny_dataset)
    cfg = _cfg(tiny_dataset, tmp_path)
    cfg.method = method
    cfg.train.optimizer = "sgd"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg.train.device = device.type
    torch.manual_seed(0)
    plain = build_model(cfg, len(data.attributes)).to(device)
    fast = build_model(cfg, len(data.attributes)).to(device)
    fast.load_state_dict(plain.state_dict())
    settings = step_settings(cfg, device, fast)  # what Trainer.setup uses
    if settings["channels_last"]:
        fast = fast.to(memory_format=torch.channels_last)
    ds = AttributeImageDataset(data, "train", (32, 32))
    xp = torch.stack([ds[i][0] for i in range(16)]).to(device)
    xf, yf = next(iter(CachedBatches([load_cache(data, "train", (32, 32))], data.labels[data.indices("train")], 16,
                                     device, channels_last=settings["channels_last"])))
    assert torch.equal(xf, xp)
    opt_p = torch.optim.SGD(plain.parameters(), lr=0.05, momentum=0.9, foreach=False)
    opt_f = build_optimizer(cfg, fast)  # the engine's optimizer (fused on CUDA, plain loop on CPU)
    for group in opt_f.param_groups:
        group["lr"], group["weight_decay"] = 0.05, 0.0
    losses = []
    for model, opt, x, amp in ((plain, opt_p, xp, False), (fast, opt_f, xf, settings["amp"])):
        model.train()
        torch.manual_seed(1)  # the IC-MLM's random masks
        losses.append(train_step(model, x, yf, opt, amp=amp))
    tol = 2e-2 if settings["amp"] else 1e-5  # bf16 autocast on CUDA: 8-bit mantissa (the bf16 test's tolerance)
    assert losses[0].item() == pytest.approx(losses[1].item(), rel=tol, abs=1e-6)
    for (name, p), q in zip(plain.named_parameters(), fast.parameters()):
        assert torch.allclose(p, q, rtol=1e-2 if settings["amp"] else 1e-4, atol=1e-3 if settings["amp"] else 1e-5), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 autocast runs on CUDA only")
def test_one_step_bf16_close_to_fp32_on_cuda(tiny_dataset, tmp_path):
    """bf16 has an 8-bit mantissa: the loss of one step agrees with fp32 within 2% (documented tolerance)."""
    data = load_prepared(tiny_dataset)
    cfg = _cfg(tiny_dataset, tmp_path)
    torch.manual_seed(0)
    model = build_model(cfg, len(data.attributes)).cuda()
    x, y = next(iter(CachedBatches([load_cache(data, "train", (32, 32))], data.labels[data.indices("train")], 32,
                                   "cuda")))
    model.eval()  # no dropout / masking: the same function in both precisions
    with torch.no_grad():
        out32 = model(x)
        ref = sum(w * masked_bce(out32[k], y) for k, w in model.loss_weights.items())
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x)
        low = sum(w * masked_bce(out[k].float(), y) for k, w in model.loss_weights.items())
    assert low.item() == pytest.approx(ref.item(), rel=2e-2)


def test_engine_trains_with_and_without_cache(dataset_copy, tmp_path, monkeypatch):
    """One data interface: the cache and the image files hold the same pixels and go through the same
    Batches, augmentation and Mixup, so on one device the two runs are the same run."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    aug = {"augment": ["randaugment", "pad_crop", "hflip"]}  # applied in one fixed order whatever the list says
    cfgs = [_cfg(dataset_copy, tmp_path, **aug), _cfg(dataset_copy, tmp_path, cache=False, **aug)]
    for cfg in cfgs:
        cfg.train.mixup_alpha, cfg.train.mixup_prob = 0.4, 0.5
    cached = train(cfgs[0], tmp_path / "a", log=lambda m: None)
    assert cache_path(dataset_copy, "train", (32, 32)).is_file()  # built on first use
    plain = train(cfgs[1], tmp_path / "b", log=lambda m: None)
    assert cached["test"] == plain["test"]
    again = train(cfgs[0], tmp_path / "d", log=lambda m: None)
    assert cached["test"] == again["test"]  # deterministic for a seed


def test_a_training_batch_of_one_is_dropped_on_both_sources(tiny_dataset):
    data = load_prepared(tiny_dataset)
    labels = data.labels[data.indices("train")]  # 96 images: batches of 19 leave one
    cached = CachedBatches([load_cache(data, "train", (32, 32))], labels, 19, "cpu", train=True)
    files = Batches(FileImages(DecodedImages(data, "train", (32, 32)), "cpu"), labels, 19, "cpu", train=True)
    for source in (cached, files):
        sizes = [len(y) for _, y in source.set_epoch_seed(1)]
        assert sizes == [19] * 5 and source.num_batches == 5
    evaluation = CachedBatches([load_cache(data, "train", (32, 32))], labels, 19, "cpu")
    assert [len(y) for _, y in evaluation][-1] == 1  # evaluation keeps every image
