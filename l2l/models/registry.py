"""timm-style registry: ``create_model(method, backbone, num_attributes, **hyper-parameters)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from l2l.models.aqn import AQNHead
from l2l.models.backbones import create_backbone
from l2l.models.fc_head import FCHead
from l2l.models.frozen_bn import freeze_batchnorm
from l2l.models.label2label import Label2LabelHead
from l2l.models.model import MultiAttributeModel
from l2l.models.two_stage import icmlm_2stage_head, mlm_encoder_head, mlm_mlp_head

_METHODS: dict[str, Callable[..., nn.Module]] = {}


def register_method(name: str, head_factory: Callable[..., nn.Module]) -> None:
    _METHODS[name] = head_factory


def list_methods() -> list[str]:
    return sorted(_METHODS)


def _fc_head(dim: int, num_attributes: int, logit_bn: str = "none", **_: Any) -> nn.Module:
    return FCHead(dim, num_attributes, logit_bn=logit_bn)


def _aqn(dim: int, num_attributes: int, aqn_layers: int = 1, num_heads: int = 4, ffn_dim: int = 2048,
         dropout: float = 0.1, logit_bn: str = "none", aqn_encoder_layers: int = 0, feature_dropout: float = 0.0,
         label_embedding_init: str = "scaled", **_: Any) -> nn.Module:
    return AQNHead(dim, num_attributes, aqn_layers, num_heads, ffn_dim, dropout, logit_bn=logit_bn,
                   aqn_encoder_layers=aqn_encoder_layers, feature_dropout=feature_dropout,
                   label_embedding_init=label_embedding_init)


def _label2label(dim: int, num_attributes: int, **kw: Any) -> nn.Module:
    return Label2LabelHead(dim, num_attributes, **kw)


register_method("fc_head", _fc_head)
register_method("aqn", _aqn)
register_method("label2label", _label2label)
register_method("mlm_mlp", mlm_mlp_head)
register_method("mlm_encoder", mlm_encoder_head)
register_method("icmlm_2stage", icmlm_2stage_head)


def create_model(method: str, backbone: str, num_attributes: int, pretrained: bool = False,
                 projection_dim: int | None = None, freeze_bn: bool = False,
                 weights: str | Mapping[str, str] = "torchvision_default", drop_path: float = 0.0,
                 **head_kwargs: Any) -> MultiAttributeModel:
    """Build backbone → (projection) → head. Head kwargs a method does not use are ignored,
    so one config section serves every method. ``freeze_bn`` freezes the backbone's BatchNorm;
    ``weights`` names the pretrained weights' source (used when ``pretrained``); ``drop_path`` is the
    ResNet stochastic-depth rate of the last block."""
    if method not in _METHODS:
        raise ValueError(f"unknown method '{method}'; available: {', '.join(list_methods())}")
    body = create_backbone(backbone, pretrained=pretrained, weights=weights, drop_path=drop_path)
    if freeze_bn:
        freeze_batchnorm(body)
    dim, projection = body.out_channels, None
    if projection_dim:
        projection, dim = nn.Conv2d(body.out_channels, projection_dim, 1), projection_dim
    head = _METHODS[method](dim, num_attributes, **head_kwargs)
    return MultiAttributeModel(body, head, projection)
