"""Attribute Query Network (Sec. 3.2, eq. 1).

M learnable queries pool attribute-related features from the flattened feature
map through L decoder layers; response r_j goes to its own classifier,
l_j = sigma(W_j^T r_j + b_j). This module returns the logits (before sigma).

Official-code switches (not in the paper): ``encoder_layers`` = 1 puts one pre-norm Transformer
ENCODER layer (self-attention over the queries only, no image, plus its own final LayerNorm) before
the decoder layers, as the official PA-100K ``QueryHead`` does; ``feature_dropout`` drops the
response vectors before the classifiers (official ``dropout_feas``); ``embedding_init`` picks the
queries' initialisation (official: ``nn.Embedding``, N(0, 1)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from l2l.models.layers import (Decoder, PerAttributeLinear, SinePositionEmbedding2D, embedding_table,
                               feature_dropout, flatten_features)

if TYPE_CHECKING:
    from l2l.config import ModelConfig


def query_encoder(num_layers: int, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> nn.Module | None:
    """The official PA-100K AQN's encoder over the queries: pre-norm layers and a final LayerNorm."""
    if num_layers < 0:
        raise ValueError(f"AQN encoder layers must be >= 0, got {num_layers}")
    if num_layers == 0:
        return None
    layer = nn.TransformerEncoderLayer(dim, num_heads, ffn_dim, dropout, activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)


class AttributeQueryNetwork(nn.Module):
    """The AQN of every head that has one (its defaults are the config's, :meth:`from_config`)."""

    def __init__(self, dim: int, num_attributes: int, num_layers: int, num_heads: int, ffn_dim: int,
                 dropout: float, *, encoder_layers: int, feature_dropout_p: float, embedding_init: str) -> None:
        super().__init__()
        self.queries = embedding_table(num_attributes, dim, embedding_init)  # Q = {q_j}
        self.decoder = Decoder(num_layers, dim, num_heads, ffn_dim, dropout)
        self.classifier = PerAttributeLinear(num_attributes, dim)
        self.encoder = query_encoder(encoder_layers, dim, num_heads, ffn_dim, dropout)
        self.feature_dropout = feature_dropout(feature_dropout_p)

    @classmethod
    def from_config(cls, dim: int, num_attributes: int, cfg: "ModelConfig") -> "AttributeQueryNetwork":
        """Reads ``model.aqn_layers``, ``num_heads``, ``ffn_dim``, ``dropout``, ``aqn_encoder_layers``,
        ``feature_dropout`` and ``label_embedding_init``."""
        return cls(dim, num_attributes, cfg.aqn_layers, cfg.num_heads, cfg.ffn_dim, cfg.dropout,
                   encoder_layers=cfg.aqn_encoder_layers, feature_dropout_p=cfg.feature_dropout,
                   embedding_init=cfg.label_embedding_init)

    def forward(self, memory: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """memory: B×HW×d (X'), pos: HW×d (X_pos) → logits B×M."""
        queries = self.queries.unsqueeze(0).expand(memory.shape[0], -1, -1)
        if self.encoder is not None:
            queries = self.encoder(queries)  # per sample, as the official code repeats Q over the batch first
        responses = self.decoder(queries, memory, pos)  # R = Q_L
        return self.classifier(self.feature_dropout(responses))


class AQNHead(nn.Module):
    """The AQN method: the AQN's predictions are the final ones."""

    prediction_key = "aqn"

    def __init__(self, dim: int, num_attributes: int, cfg: "ModelConfig") -> None:
        """Reads the AQN's keys (:meth:`AttributeQueryNetwork.from_config`) and ``model.logit_bn``."""
        super().__init__()
        self.pos = SinePositionEmbedding2D.from_config(dim, cfg)
        self.aqn = AttributeQueryNetwork.from_config(dim, num_attributes, cfg)
        self.loss_weights = {"aqn": 1.0}
        # official-code switch: BatchNorm1d on the logits ("both" = every head's logits)
        self.logit_bn = nn.BatchNorm1d(num_attributes) if cfg.logit_bn == "both" else nn.Identity()

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        memory = flatten_features(features)
        pos = self.pos(features.shape[2], features.shape[3], features.device, features.dtype)
        return {"aqn": self.logit_bn(self.aqn(memory, pos))}
