"""timm-style registry, built from the config: ``create_model(method, backbone, num_attributes, cfg)``.

Every head is built as ``head(dim, num_attributes, cfg)`` from the run's :class:`l2l.config.ModelConfig`
and reads the keys it needs from it (detectron2's ``from_config``), so a model key is declared in the
config schema (its type, range and default) and read in the one constructor that uses it; nothing in
between lists keys. ``create_model``'s keyword overrides must be ModelConfig keys (a misspelt one is a
TypeError, never ignored).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from torch import nn

from l2l.config import ModelConfig
from l2l.models.aqn import AQNHead
from l2l.models.backbones import create_backbone
from l2l.models.fc_head import FCHead
from l2l.models.frozen_bn import freeze_batchnorm
from l2l.models.label2label import Label2LabelHead
from l2l.models.model import MultiAttributeModel
from l2l.models.two_stage import icmlm_2stage_head, mlm_encoder_head, mlm_mlp_head

HeadFactory = Callable[[int, int, ModelConfig], nn.Module]  # (feature dim d, M, model config) -> head
_METHODS: dict[str, HeadFactory] = {}


def register_method(name: str, head_factory: HeadFactory) -> None:
    _METHODS[name] = head_factory


def list_methods() -> list[str]:
    return sorted(_METHODS)


register_method("fc_head", FCHead)
register_method("aqn", AQNHead)
register_method("label2label", Label2LabelHead)
register_method("mlm_mlp", mlm_mlp_head)
register_method("mlm_encoder", mlm_encoder_head)
register_method("icmlm_2stage", icmlm_2stage_head)


def create_model(method: str, backbone: str, num_attributes: int, cfg: ModelConfig | None = None,
                 **overrides: Any) -> MultiAttributeModel:
    """Build backbone → (projection) → head from ``cfg`` (default: ModelConfig()) with ``overrides`` on top.

    The backbone reads ``model.pretrained``, ``weights``, ``drop_path`` and ``freeze_bn``, the projection
    ``projection_dim``, the head what its constructor names."""
    if method not in _METHODS:
        raise ValueError(f"unknown method '{method}'; available: {', '.join(list_methods())}")
    cfg = dataclasses.replace(cfg or ModelConfig(), **overrides)
    body = create_backbone(backbone, cfg)
    if cfg.freeze_bn:
        freeze_batchnorm(body)
    dim, projection = body.out_channels, None
    if cfg.projection_dim:
        projection, dim = nn.Conv2d(body.out_channels, cfg.projection_dim, 1), cfg.projection_dim
    head = _METHODS[method](dim, num_attributes, cfg)
    return MultiAttributeModel(body, head, projection)
