import pytest
import torch

from l2l.config import ModelConfig
from l2l.models import AttributeQueryNetwork, ImageConditionedMLM, create_model, list_methods
from l2l.models.label2label import MASK_STRATEGIES, pseudo_labels
from l2l.models.layers import SinePositionEmbedding2D

M = 7


@pytest.mark.parametrize("method", ["fc_head", "aqn", "label2label"])
def test_output_shapes(method):
    model = create_model(method, "small_cnn", M, ffn_dim=64)
    out = model(torch.randn(3, 3, 32, 32))
    assert set(out) == set(model.loss_weights)
    assert model.prediction_key in out
    for logits in out.values():
        assert logits.shape == (3, M)


def test_registry_lists_methods_and_rejects_unknown():
    assert list_methods() == ["aqn", "fc_head", "icmlm_2stage", "label2label", "mlm_encoder", "mlm_mlp"]
    with pytest.raises(ValueError, match="unknown method 'mlp'"):
        create_model("mlp", "small_cnn", M)
    with pytest.raises(ValueError, match="unknown backbone 'resnet9'"):
        create_model("aqn", "resnet9", M)


def test_resnet_feature_map_and_projection():
    model = create_model("aqn", "resnet18", M, pretrained=False, projection_dim=32, ffn_dim=64)
    feats = model.backbone(torch.randn(2, 3, 64, 64))
    assert feats.shape == (2, 512, 2, 2)  # last stage, no global pooling
    assert model.backbone.out_channels == 512
    assert model(torch.randn(2, 3, 64, 64))["aqn"].shape == (2, M)


def test_hidden_size_equals_backbone_channels_without_projection():
    model = create_model("label2label", "small_cnn", M)
    d = model.backbone.out_channels
    assert model.head.aqn.queries.shape == (M, d)
    assert model.head.mlm.embedding.present.shape == (M, d)


def test_loss_weights_follow_eq4():
    model = create_model("label2label", "small_cnn", M, mlm_weight=0.5)
    assert model.loss_weights == {"aqn": 1.0, "mlm": 0.5}
    assert model.prediction_key == "mlm"


def test_pseudo_labels_carry_no_gradient():
    logits = torch.randn(4, M, requires_grad=True)
    s = pseudo_labels(logits)
    assert not s.requires_grad
    assert torch.equal(s, (torch.sigmoid(logits) > 0.5).long())


def test_mlm_loss_trains_backbone_but_not_aqn():
    torch.manual_seed(0)
    model = create_model("label2label", "small_cnn", M, ffn_dim=64)
    model.train()
    model(torch.randn(4, 3, 32, 32))["mlm"].sum().backward()
    aqn_grads = [p.grad for p in model.head.aqn.parameters()]
    assert all(g is None or torch.count_nonzero(g) == 0 for g in aqn_grads)
    assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in model.backbone.parameters())


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.3])
def test_masking_rate_in_train_mode_only(alpha):
    torch.manual_seed(0)
    mlm = ImageConditionedMLM.from_config(16, M, ModelConfig(mlm_layers=1, ffn_dim=32, mask_ratio=alpha))
    words = torch.randint(0, 2, (20000, M))
    mlm.train()
    rate = mlm.random_mask(words).float().mean().item()
    assert abs(rate - alpha) < 0.01
    mlm.eval()
    assert not mlm.random_mask(words).any()


def test_masked_words_get_the_mask_embedding():
    mlm = ImageConditionedMLM.from_config(16, M, ModelConfig(mlm_layers=1, ffn_dim=32, mask_strategy="attribute_specific"))
    words = torch.ones(1, M, dtype=torch.long)
    masked = torch.zeros(1, M, dtype=torch.bool)
    masked[0, 2] = True
    tokens = mlm.embedding(words, masked)
    assert torch.equal(tokens[0, 2], mlm.embedding.mask[2])
    assert torch.equal(tokens[0, 0], mlm.embedding.present[0])
    assert torch.equal(mlm.embedding(1 - words, ~masked)[0, 0], mlm.embedding.mask[0])


@pytest.mark.parametrize("strategy", MASK_STRATEGIES)
def test_all_mask_strategies_train(strategy):
    model = create_model("label2label", "small_cnn", M, ffn_dim=64, mask_ratio=0.5, mask_strategy=strategy)
    model.train()
    loss = sum(v.sum() for v in model(torch.randn(2, 3, 32, 32)).values())
    loss.backward()
    emb = model.head.mlm.embedding
    if strategy == "zero":
        assert not emb.mask.requires_grad and torch.count_nonzero(emb.mask) == 0
    else:
        assert emb.mask.shape[0] == (M if strategy == "attribute_specific" else 1)


def _permute_(dst, src, perm, names):
    sd = src.state_dict()
    for name in names:
        sd[name] = sd[name][perm]
    dst.load_state_dict(sd)


def test_ic_mlm_is_permutation_equivariant_over_attributes():
    torch.manual_seed(0)
    d, hw = 16, 12
    mlm = ImageConditionedMLM.from_config(d, M, ModelConfig(mlm_layers=2, ffn_dim=32)).eval()
    perm = torch.randperm(M)
    twin = ImageConditionedMLM.from_config(d, M, ModelConfig(mlm_layers=2, ffn_dim=32)).eval()
    _permute_(twin, mlm, perm, ["embedding.present", "embedding.absent", "embedding.mask",
                                "classifier.weight", "classifier.bias"])
    words = torch.randint(0, 2, (5, M))
    memory, pos = torch.randn(5, hw, d), torch.randn(hw, d)
    out = mlm(words, memory, pos)
    assert torch.allclose(twin(words[:, perm], memory, pos), out[:, perm], atol=1e-5)


def test_aqn_is_permutation_equivariant_over_attributes():
    torch.manual_seed(0)
    d, hw = 16, 12
    aqn = AttributeQueryNetwork.from_config(d, M, ModelConfig(aqn_layers=1, ffn_dim=32)).eval()
    perm = torch.randperm(M)
    twin = AttributeQueryNetwork.from_config(d, M, ModelConfig(aqn_layers=1, ffn_dim=32)).eval()
    _permute_(twin, aqn, perm, ["queries", "classifier.weight", "classifier.bias"])
    memory, pos = torch.randn(5, hw, d), torch.randn(hw, d)
    assert torch.allclose(twin(memory, pos), aqn(memory, pos)[:, perm], atol=1e-5)


def test_position_embedding_is_fixed_and_distinct():
    pe = SinePositionEmbedding2D(16, "centered")
    pos = pe(3, 4, torch.device("cpu"), torch.float32)
    assert pos.shape == (12, 16)
    assert not any(p.requires_grad for p in pe.parameters())
    assert torch.unique(pos, dim=0).shape[0] == 12


def test_vit_patch_tokens_as_a_grid():
    model = create_model("aqn", "vit_b_16", M, ffn_dim=64)
    assert model.backbone.out_channels == 768 and model.backbone.stride == 16
    feats = model.backbone(torch.randn(1, 3, 224, 224))
    assert feats.shape == (1, 768, 14, 14)
    assert model.head.aqn.queries.shape == (M, 768)


def test_alexnet_last_conv_stage():
    model = create_model("fc_head", "alexnet", M)
    assert model.backbone(torch.randn(1, 3, 224, 224)).shape == (1, 256, 13, 13)


@pytest.mark.parametrize("method", ["mlm_mlp", "mlm_encoder", "icmlm_2stage"])
def test_two_stage_heads_train_only_the_refiner(method):
    model = create_model(method, "small_cnn", M, ffn_dim=32)
    model.train()
    assert not model.head.aqn.training  # frozen stage one stays in eval mode
    assert model.loss_weights == {"mlm": 1.0}
    out = model(torch.randn(2, 3, 32, 32))
    assert set(out) == {"aqn", "mlm"} and out["mlm"].shape == (2, M)
    out["mlm"].sum().backward()
    assert all(p.grad is None for p in model.head.aqn.parameters())
    assert any(p.grad is not None for p in model.head.refiner.parameters())
