"""Attribute Query Network (Sec. 3.2, eq. 1).

M learnable queries pool attribute-related features from the flattened feature
map through L decoder layers; response r_j goes to its own classifier,
l_j = sigma(W_j^T r_j + b_j). This module returns the logits (before sigma).
"""

from __future__ import annotations

import torch
from torch import nn

from l2l.models.layers import Decoder, PerAttributeLinear, SinePositionEmbedding2D, flatten_features


class AttributeQueryNetwork(nn.Module):
    def __init__(self, dim: int, num_attributes: int, num_layers: int = 1, num_heads: int = 4,
                 ffn_dim: int = 2048, dropout: float = 0.1) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_attributes, dim) * dim**-0.5)  # Q = {q_j}
        self.decoder = Decoder(num_layers, dim, num_heads, ffn_dim, dropout)
        self.classifier = PerAttributeLinear(num_attributes, dim)

    def forward(self, memory: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """memory: B×HW×d (X'), pos: HW×d (X_pos) → logits B×M."""
        queries = self.queries.unsqueeze(0).expand(memory.shape[0], -1, -1)
        responses = self.decoder(queries, memory, pos)  # R = Q_L
        return self.classifier(responses)


class AQNHead(nn.Module):
    """The AQN method: the AQN's predictions are the final ones."""

    prediction_key = "aqn"

    def __init__(self, dim: int, num_attributes: int, aqn_layers: int = 1, num_heads: int = 4,
                 ffn_dim: int = 2048, dropout: float = 0.1, logit_bn: str = "none") -> None:
        super().__init__()
        self.pos = SinePositionEmbedding2D(dim)
        self.aqn = AttributeQueryNetwork(dim, num_attributes, aqn_layers, num_heads, ffn_dim, dropout)
        self.loss_weights = {"aqn": 1.0}
        # official-code switch: BatchNorm1d on the logits ("both" = every head's logits)
        self.logit_bn = nn.BatchNorm1d(num_attributes) if logit_bn == "both" else nn.Identity()

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        memory = flatten_features(features)
        pos = self.pos(features.shape[2], features.shape[3], features.device, features.dtype)
        return {"aqn": self.logit_bn(self.aqn(memory, pos))}
