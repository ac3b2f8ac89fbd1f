"""Model switches that mirror the authors' released code (docs/protocol.md): each one checked against
the behaviour the official code has, with numbers computed by hand from its module definitions."""

import sys

import pytest
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from l2l.config import ModelConfig, resolve
from l2l.engine import build_model
from l2l.errors import UserError
from l2l.models import create_model
from l2l.models.aqn import AttributeQueryNetwork
from l2l.models.backbones import (DropPathBottleneck, add_drop_path, create_backbone, select_weights,
                                  weights_source)
from l2l.models.label2label import ImageConditionedMLM, LabelWordEmbedding, mix_words

D, M = 2048, 26


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- parameter counts, by hand from the official module definitions ----
# A pre-norm layer of the official models/transformer.py (torch.nn.MultiheadAttention, d = dim_forward = 2048):
#   MHA 4d^2 + 4d = 16,785,408;  FFN 2·d·d + d + d = 8,392,704;  LayerNorm 2d = 4,096
#   encoder layer (MHA, FFN, 2 LN) = 25,186,304;  decoder layer (2 MHA, FFN, 3 LN) = 41,975,808
# Official Pedestrian_Attribute/models/model.py QueryHead (num_att 26, decN 2, one encoder layer):
#   encoder layer 25,186,304 + encoder_norm 4,096 + 2 decoder layers 83,951,616 + decoder_norm 4,096
#   + query_embed 26·2048 = 53,248 + GroupWiseLinear 26·2048 + 26 = 53,274  → 109,252,634
PA_QUERY_HEAD = 109_252_634
# LabelHead (decNL 2): decoders 83,951,616 + norm 4,096 + label_embedding 52·2048 + mask_embedding 26·2048
#   + classifier 53,274 → 84,168,730; base_block.BaseClassifier adds bn1 and bn2 (BatchNorm1d(26): 52 each)
#   (its unused `logits` Linear+BN, 53,326 parameters, takes no part in forward and is not counted)
PA_LABEL_HEAD = 84_168_730


def test_pa_aqn_with_its_encoder_layer_has_the_official_parameter_count():
    with torch.device("meta"):
        aqn = AttributeQueryNetwork.from_config(D, M, ModelConfig(aqn_layers=2, num_heads=4, ffn_dim=2048, dropout=0.1, aqn_encoder_layers=1))
        plain = AttributeQueryNetwork.from_config(D, M, ModelConfig(aqn_layers=2, num_heads=4, ffn_dim=2048, dropout=0.1))
    assert _numel(aqn) == PA_QUERY_HEAD
    assert _numel(aqn) - _numel(plain) == 25_186_304 + 4_096  # the encoder layer and its LayerNorm


def test_pa_label2label_head_has_the_official_parameter_count():
    with torch.device("meta"):
        model = create_model("label2label", "small_cnn", M, projection_dim=D, aqn_layers=2, mlm_layers=2,
                             aqn_encoder_layers=1, logit_bn="both", ffn_dim=2048)
    assert _numel(model.head) == PA_QUERY_HEAD + PA_LABEL_HEAD + 2 * 52


def test_lfwa_heads_with_every_official_switch_keep_the_official_parameter_counts():
    # Face_Attribute/model.py at M = 40, decN 1, decNL 2: QueryHead = 41,975,808 + 4,096 + 81,920 + 81,960
    # = 42,143,784; LabelHead = 83,951,616 + 4,096 + 163,840 + 81,920 + 81,960 = 84,283,432; bn2 (--bn1d) 80
    with torch.device("meta"):
        model = create_model("label2label", "small_cnn", 40, projection_dim=D, aqn_layers=1, mlm_layers=2,
                             ffn_dim=2048, logit_bn="mlm", feature_dropout=0.1, label_embedding_init="normal")
    assert _numel(model.head.aqn) == 42_143_784
    assert _numel(model.head.mlm) == 84_283_432
    assert _numel(model.head) == 42_143_784 + 84_283_432 + 80


def test_the_aqn_encoder_attends_over_the_queries_only():
    enc = AttributeQueryNetwork.from_config(16, 3, ModelConfig(aqn_encoder_layers=1, ffn_dim=32, dropout=0.0)).encoder
    assert len(enc.layers) == 1 and enc.layers[0].norm_first and isinstance(enc.norm, nn.LayerNorm)
    # no image input: every sample's encoded queries are the same in eval mode
    aqn = AttributeQueryNetwork.from_config(16, 3, ModelConfig(aqn_encoder_layers=1, ffn_dim=32, dropout=0.0)).eval()
    q = aqn.queries.unsqueeze(0).expand(2, -1, -1)
    out = aqn.encoder(q)
    assert torch.allclose(out[0], out[1], atol=1e-6) and not torch.allclose(out[0], aqn.queries, atol=1e-3)
    # and the AQN's decoder reads the encoded queries: an encoder whose final LayerNorm outputs zeros makes
    # every attribute's query, hence response, the same
    responses = {}
    aqn.classifier.register_forward_hook(lambda m, args, out: responses.update(r=args[0]))
    with torch.no_grad():
        aqn.encoder.norm.weight.zero_()
        aqn.encoder.norm.bias.zero_()
    aqn(torch.randn(2, 4, 16), torch.zeros(4, 16))
    assert torch.allclose(responses["r"][:, 0], responses["r"][:, 1], atol=1e-5)


# ---- feature dropout and embedding init ----
def test_feature_dropout_drops_responses_before_both_classifiers():
    memory, pos = torch.randn(4, 9, 16), torch.zeros(9, 16)
    words = torch.randint(0, 2, (4, 5))

    def train_minus_eval(module, *args):
        torch.manual_seed(1)
        train = module.train()(*args)
        return (train - module.eval()(*args)).abs().max().item()

    for p in (0.0, 0.5):  # decoder dropout and masking off: feature dropout is the only random thing left
        aqn = AttributeQueryNetwork.from_config(16, 5, ModelConfig(ffn_dim=32, dropout=0.0, feature_dropout=p))
        mlm = ImageConditionedMLM.from_config(16, 5, ModelConfig(ffn_dim=32, dropout=0.0, mask_ratio=0.0, feature_dropout=p))
        assert (train_minus_eval(aqn, memory, pos) > 1e-3) == (p > 0)
        assert (train_minus_eval(mlm, words, memory, pos) > 1e-3) == (p > 0)
    head = create_model("label2label", "small_cnn", 5, ffn_dim=32, feature_dropout=0.1).head
    assert head.aqn.feature_dropout.p == 0.1 and head.mlm.feature_dropout.p == 0.1
    assert isinstance(create_model("label2label", "small_cnn", 5).head.mlm.feature_dropout, nn.Identity)


@pytest.mark.parametrize("init,scale", [("scaled", 64**-0.5), ("normal", 1.0)])
def test_label_embedding_init_draws_the_same_randn(init, scale):
    torch.manual_seed(0)
    emb = LabelWordEmbedding(5, 64, "attribute_specific", init)
    torch.manual_seed(0)
    present, absent, mask = torch.randn(5, 64), torch.randn(5, 64), torch.randn(5, 64)
    assert torch.allclose(emb.present, present * scale) and torch.allclose(emb.absent, absent * scale)
    assert torch.allclose(emb.mask, mask * scale)


def test_label_embedding_init_reaches_the_queries():
    torch.manual_seed(0)
    aqn = AttributeQueryNetwork.from_config(64, 5, ModelConfig(ffn_dim=32, label_embedding_init="normal"))
    torch.manual_seed(0)
    assert torch.equal(aqn.queries, torch.randn(5, 64))


# ---- label-embedding Mixup ----
def _official_rule(x: int, own: int, partner: int, lam: float) -> int:
    """Face_Attribute/model.py LabelHead, in words: keep the pseudo label x where it equals the dominant
    image's label (own if lam > 0.5, else the partner's), elsewhere take the other image's label."""
    first, second = (own, partner) if lam > 0.5 else (partner, own)
    return x if x == first else second


def test_mix_words_equal_the_official_rule_for_every_binary_case():
    cases = [(x, a, b) for x in (0, 1) for a in (0, 1) for b in (0, 1)]
    words = torch.tensor([[x for x, _, _ in cases]])
    labels = torch.tensor([[[a for _, a, _ in cases]], [[b for _, _, b in cases]]])
    for lam in (0.2, 0.5, 0.8):
        expect = [_official_rule(x, a, b, lam) for x, a, b in cases]
        assert mix_words(words, lam, labels).tolist() == [expect], lam
    # spelled out: the labels where both images agree, the pseudo label where they differ
    assert mix_words(words, 0.8, labels).tolist() == [[0, 0, 0, 1, 0, 1, 1, 1]]


def test_mix_words_keep_the_pseudo_label_where_a_label_is_unknown():
    words = torch.tensor([[1, 0, 1, 0]])
    labels = torch.stack([torch.tensor([[-1, 1, 0, -1]]), torch.tensor([[0, 1, 0, -1]])])
    assert mix_words(words, 0.7, labels).tolist() == [[1, 1, 0, 0]]
    with pytest.raises(ValueError, match="2×B×M"):
        mix_words(words, 0.3, labels[0])


def test_mixed_tokens_are_lam_weighted_embeddings_and_masking_comes_after():
    torch.manual_seed(0)
    emb = LabelWordEmbedding(3, 8, "attribute_specific", "scaled")
    words, second = torch.tensor([[1, 0, 1]]), torch.tensor([[0, 0, 1]])
    none = torch.zeros(1, 3, dtype=torch.bool)
    got = emb(words, none, 0.25, second)
    expect = 0.25 * emb.lookup(words) + 0.75 * emb.lookup(second)
    assert torch.allclose(got, expect)
    assert torch.allclose(got[0, 2], emb.present[2])  # both words 1: the mix is E_1 itself
    masked = torch.tensor([[False, True, False]])
    assert torch.equal(emb(words, masked, 0.25, second)[0, 1], emb.mask[1])


@pytest.mark.parametrize("method", ["label2label", "icmlm_2stage", "mlm_encoder", "mlm_mlp"])
def test_mix_interface_default_is_unchanged_and_mixing_changes_the_mlm_only(method):
    torch.manual_seed(0)
    model = create_model(method, "small_cnn", 4, ffn_dim=32).eval()
    assert model.accepts_mix
    images = torch.randn(3, 3, 32, 32)
    plain = model(images)
    same = model(images, mix_lam=None, mix_labels=None)
    assert all(torch.equal(plain[k], same[k]) for k in plain)
    flipped = 1.0 - (plain["aqn"] > 0).float()  # both images' labels agree and contradict every pseudo label
    mixed = model(images, mix_lam=0.3, mix_labels=torch.stack([flipped, flipped]))
    assert torch.equal(mixed["aqn"], plain["aqn"])  # the AQN never sees labels
    assert not torch.allclose(mixed["mlm"], plain["mlm"])


def test_heads_without_label_inputs_refuse_a_mix():
    for method in ("fc_head", "aqn"):
        model = create_model(method, "small_cnn", 4, ffn_dim=32)
        assert not model.accepts_mix
        with pytest.raises(ValueError, match="accepts_mix"):
            model(torch.randn(2, 3, 32, 32), mix_lam=0.5, mix_labels=torch.zeros(2, 2, 4))


# ---- drop path ----
def test_drop_path_rates_follow_timms_linear_rule_on_resnet50():
    body = create_backbone("resnet50")
    keys = list(body.state_dict())
    rates = add_drop_path(body, 0.1)
    assert len(rates) == 16 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.1)
    assert rates[5] == pytest.approx(0.1 * 5 / 15)
    assert list(body.state_dict()) == keys  # same keys: pretrained weights and freeze_bn still apply
    assert all(isinstance(m, DropPathBottleneck) for m in body.modules() if isinstance(m, Bottleneck))


def test_a_dropped_sample_keeps_only_its_shortcut():
    torch.manual_seed(0)
    block = Bottleneck(16, 4).eval()  # eval BN: deterministic branch
    x = torch.randn(64, 16, 4, 4)
    branch = block.bn3(block.conv3(block.relu(block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))))))
    container = nn.Sequential(block)
    add_drop_path(container, 0.5)  # one block: its rate is 0 by the linear rule
    assert block.drop_path.p == 0.0
    block.drop_path.p = 0.5
    block.drop_path.train()
    out = block(x)
    kept = torch.relu(2 * branch + x)  # scaled by 1/(1-p)
    dropped = torch.relu(x)
    is_kept = torch.tensor([torch.allclose(out[i], kept[i], atol=1e-5) for i in range(64)])
    is_dropped = torch.tensor([torch.allclose(out[i], dropped[i], atol=1e-5) for i in range(64)])
    assert torch.all(is_kept ^ is_dropped) and 10 < is_kept.sum() < 54
    block.drop_path.eval()
    assert torch.allclose(block(x), torch.relu(branch + x), atol=1e-5)


def test_drop_path_leaves_backbones_without_resnet_blocks_as_they_are():
    torch.manual_seed(0)
    plain = create_model("aqn", "small_cnn", 4, ffn_dim=32)
    torch.manual_seed(0)
    with_rate = create_model("aqn", "small_cnn", 4, ffn_dim=32, drop_path=0.1)
    assert add_drop_path(with_rate.backbone, 0.1) == []
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(plain.eval()(x)["aqn"], with_rate.eval()(x)["aqn"])


def test_drop_path_and_frozen_bn_train_deterministically_under_a_seed():
    model = create_model("fc_head", "resnet18", 3, freeze_bn=True, drop_path=0.3).train()
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(5)
    a = model(x)["fc"]
    torch.manual_seed(5)
    b = model(x)["fc"]
    c = model(x)["fc"]
    assert torch.equal(a, b) and not torch.equal(b, c)
    assert torch.equal(model.eval()(x)["fc"], model(x)["fc"])


def test_frozen_bn_is_the_official_formula():
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        bn.running_mean.copy_(torch.tensor([0.5, 0.0, -1.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    model = create_model("fc_head", "small_cnn", 2, freeze_bn=True)
    model.backbone.body[0][1] = bn
    from l2l.models.frozen_bn import freeze_batchnorm
    frozen = freeze_batchnorm(bn).train()
    x = torch.randn(2, 3, 4, 4)
    # official FrozenBatchNorm2d: scale = w * rsqrt(rv + 1e-5); y = x * scale + (b - rm * scale)
    scale = bn.weight / torch.sqrt(bn.running_var + 1e-5)
    expect = x * scale[None, :, None, None] + (bn.bias - bn.running_mean * scale)[None, :, None, None]
    assert torch.allclose(frozen(x), expect.detach(), atol=1e-6)


# ---- pretrained weight source (selection only: nothing is downloaded) ----
def test_weight_selection_names_the_torchvision_enum_or_timm_model():
    assert select_weights("resnet50", "torchvision_v1") == ("torchvision", "ResNet50_Weights.IMAGENET1K_V1")
    assert select_weights("resnet50", "torchvision_v2") == ("torchvision", "ResNet50_Weights.IMAGENET1K_V2")
    assert select_weights("resnet50", "torchvision_default") == ("torchvision", "ResNet50_Weights.IMAGENET1K_V2")
    assert select_weights("resnet101", "torchvision_v1") == ("torchvision", "ResNet101_Weights.IMAGENET1K_V1")
    assert select_weights("alexnet", "torchvision_default") == ("torchvision", "AlexNet_Weights.IMAGENET1K_V1")
    assert select_weights("resnet50", "timm") == ("timm", "resnet50.ram_in1k")  # timm 0.4.12's resnet50
    with pytest.raises(ValueError, match="no IMAGENET1K_V2 weights for alexnet"):
        select_weights("alexnet", "torchvision_v2")
    with pytest.raises(ValueError, match="timm is available for"):
        select_weights("vit_b_16", "timm")


def test_weight_source_mapping_per_backbone():
    official = {"resnet50": "timm", "resnet101": "torchvision_v1", "default": "torchvision_default"}
    assert weights_source(official, "resnet50") == "timm"
    assert weights_source(official, "resnet101") == "torchvision_v1"
    assert weights_source(official, "vit_b_16") == "torchvision_default"
    assert weights_source({"resnet50": "timm"}, "alexnet") == "torchvision_default"


def test_the_chosen_torchvision_weights_reach_get_model(monkeypatch):
    import torchvision
    seen = []
    real = torchvision.models.get_model

    def fake(name, weights=None):
        seen.append((name, weights))
        return real(name, weights=None)

    monkeypatch.setattr(torchvision.models, "get_model", fake)
    create_backbone("resnet101", pretrained=True, weights={"resnet101": "torchvision_v1"})
    create_backbone("resnet18", pretrained=False, weights="timm")  # not pretrained: the source is unused
    assert seen == [("resnet101", "ResNet101_Weights.IMAGENET1K_V1"), ("resnet18", None)]


def test_timm_weights_without_timm_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # as if not installed
    cfg = resolve({"backbone": "resnet18", "model": {"pretrained": True, "weights": "timm"}})
    with pytest.raises(UserError, match=r"pip install '\.\[timm\]'"):
        build_model(cfg, 4)


def test_new_switches_are_validated():
    """The schema (l2l/schema.py) checks them: one line naming the key."""
    for model, msg in [({"drop_path": 1.0}, "key model.drop_path must be < 1"),
                       ({"feature_dropout": -0.1}, "key model.feature_dropout must be >= 0"),
                       ({"label_embedding_init": "xavier"}, "key model.label_embedding_init must be one of"),
                       ({"aqn_encoder_layers": -1}, "key model.aqn_encoder_layers must be >= 0"),
                       ({"weights": {"resnet50": "tv1"}}, "key model.weights")]:
        with pytest.raises(UserError, match=msg):
            resolve({"model": model})


# ---- the sine position embedding (model.pos_embedding) ----
def _official_pe(num_pos_feats: int, h: int, w: int) -> torch.Tensor:
    """The authors' PositionEmbeddingSine(normalize=True)._gen_pos_buffer (model.py of both folders), as HW×d."""
    import math

    eyes = torch.ones((1, h, w))
    y = eyes.cumsum(1, dtype=torch.float32)
    x = eyes.cumsum(2, dtype=torch.float32)
    y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
    x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = 10000 ** (2 * (dim_t // 2) / num_pos_feats)
    px, py = x[:, :, :, None] / dim_t, y[:, :, :, None] / dim_t
    px = torch.stack((px[:, :, :, 0::2].sin(), px[:, :, :, 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[:, :, :, 0::2].sin(), py[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2).flatten(2)[0].T


def test_position_embedding_layouts_of_a_2x3_map_by_hand():
    """d = 8: frequencies 1 and 10000^(1/2) = 100; channels 0-3 the row, 4-7 the column."""
    from math import cos, pi, sin

    from l2l.models.layers import SinePositionEmbedding2D

    def official(a, b):  # i/H·2π, i = 1..H; sin and cos interleaved per frequency
        return [sin(a), cos(a), sin(a / 100), cos(a / 100), sin(b), cos(b), sin(b / 100), cos(b / 100)]

    def centered(a, b):  # (i + ½)/H·2π, i = 0..H-1; all sines, then all cosines
        return [sin(a), sin(a / 100), cos(a), cos(a / 100), sin(b), sin(b / 100), cos(b), cos(b / 100)]

    rows_official, cols_official = [pi, 2 * pi], [2 * pi / 3, 4 * pi / 3, 2 * pi]
    rows_centered, cols_centered = [pi / 2, 3 * pi / 2], [pi / 3, pi, 5 * pi / 3]
    for layout, enc, rows, cols in (("official", official, rows_official, cols_official),
                                    ("centered", centered, rows_centered, cols_centered)):
        pe = SinePositionEmbedding2D.from_config(8, ModelConfig(pos_embedding=layout))
        got = pe(2, 3, torch.device("cpu"), torch.float64)
        expected = torch.tensor([enc(a, b) for a in rows for b in cols], dtype=torch.float64)  # row-major h, w
        assert torch.allclose(got, expected, atol=1e-5), layout
    # the first position written out: row 1 of 2 at ≈π, column 1 of 3 at 2π/3
    first = SinePositionEmbedding2D(8, "official")(2, 3, torch.device("cpu"), torch.float64)[0]
    assert torch.allclose(first, torch.tensor([0.0, -1.0, 0.0314108, 0.9995066, 0.8660254, -0.5, 0.0209424, 0.9997807],
                                              dtype=torch.float64), atol=1e-5)


def test_official_position_embedding_is_the_authors_on_the_real_maps():
    """PA-100K's 8×6 map and LFWA's 8×8 at d = 2048, against the authors' code (float32 there)."""
    from l2l.models.layers import SinePositionEmbedding2D

    for h, w in ((8, 6), (8, 8)):
        ours = SinePositionEmbedding2D(D, "official")(h, w, torch.device("cpu"), torch.float32)
        assert torch.allclose(ours, _official_pe(D // 2, h, w), atol=2e-5)
        assert not torch.allclose(SinePositionEmbedding2D(D, "centered")(h, w, torch.device("cpu"), torch.float32),
                                  _official_pe(D // 2, h, w), atol=1e-2)


def test_every_head_reads_the_position_embedding_layout():
    cfg = ModelConfig(pos_embedding="official", ffn_dim=16)
    for method in ("aqn", "label2label", "icmlm_2stage"):
        model = create_model(method, "small_cnn", 4, cfg)
        assert model.head.pos.layout == "official", method
    assert create_model("label2label", "small_cnn", 4, ModelConfig(ffn_dim=16)).head.pos.layout == "centered"
