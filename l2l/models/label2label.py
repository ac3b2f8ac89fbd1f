"""Label2Label (Sec. 3.3-3.4): AQN pseudo labels → masked label "sentence" → IC-MLM (eqs. 2-4)."""

from __future__ import annotations

import torch
from torch import nn

from l2l.methods import MASK_STRATEGIES
from l2l.models.aqn import AttributeQueryNetwork
from l2l.models.layers import Decoder, PerAttributeLinear, SinePositionEmbedding2D, flatten_features


class LabelWordEmbedding(nn.Module):
    """Vocabulary of 2M words ("attribute j = 1", "attribute j = 0") plus the [mask] word.

    [mask] strategies: ``attribute_specific`` (M learned embeddings), ``attribute_agnostic``
    (one learned embedding shared by all attributes), ``zero`` (a fixed zero vector).
    No positional embedding: the label sentence is unordered.
    """

    def __init__(self, num_attributes: int, dim: int, mask_strategy: str = "attribute_specific") -> None:
        super().__init__()
        if mask_strategy not in MASK_STRATEGIES:
            raise ValueError(f"unknown mask strategy '{mask_strategy}'; choose one of {MASK_STRATEGIES}")
        self.present = nn.Parameter(torch.randn(num_attributes, dim) * dim**-0.5)  # E_1 per attribute
        self.absent = nn.Parameter(torch.randn(num_attributes, dim) * dim**-0.5)  # E_0 per attribute
        self.mask_strategy = mask_strategy
        if mask_strategy == "attribute_specific":
            self.mask = nn.Parameter(torch.randn(num_attributes, dim) * dim**-0.5)
        elif mask_strategy == "attribute_agnostic":
            self.mask = nn.Parameter(torch.randn(1, dim) * dim**-0.5)
        else:
            self.register_buffer("mask", torch.zeros(1, dim))

    def forward(self, words: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """words: B×M in {0,1}; masked: B×M bool → token embeddings E: B×M×d."""
        tokens = torch.where(words.unsqueeze(-1) > 0, self.present, self.absent)
        return torch.where(masked.unsqueeze(-1), self.mask.expand_as(self.present), tokens)


class ImageConditionedMLM(nn.Module):
    """IC-MLM: D decoder layers whose queries are the label tokens, cross-attending to the image.

    Models P(y_1..y_M | x, M(s_1)..M(s_M)); in training each word is replaced by [mask]
    with probability alpha, independently; at inference nothing is masked.
    """

    def __init__(self, dim: int, num_attributes: int, num_layers: int = 2, num_heads: int = 4,
                 ffn_dim: int = 2048, dropout: float = 0.1, mask_ratio: float = 0.1,
                 mask_strategy: str = "attribute_specific") -> None:
        super().__init__()
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f"mask ratio alpha must be in [0, 1], got {mask_ratio}")
        self.mask_ratio = mask_ratio
        self.embedding = LabelWordEmbedding(num_attributes, dim, mask_strategy)
        self.decoder = Decoder(num_layers, dim, num_heads, ffn_dim, dropout)
        self.classifier = PerAttributeLinear(num_attributes, dim)

    def random_mask(self, words: torch.Tensor) -> torch.Tensor:
        if not self.training or self.mask_ratio == 0.0:
            return torch.zeros_like(words, dtype=torch.bool)
        return torch.rand(words.shape, device=words.device) < self.mask_ratio

    def forward(self, words: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """words: B×M pseudo labels; memory B×HW×d; pos HW×d → logits of p_j (eq. 3), B×M."""
        tokens = self.embedding(words, self.random_mask(words))  # E_0
        return self.classifier(self.decoder(tokens, memory, pos))  # R' = E_D


def pseudo_labels(logits: torch.Tensor) -> torch.Tensor:
    """s_j = 1[l_j > 0.5] = 1[logit_j > 0]: a hard threshold, so no gradient flows through it."""
    return (logits.detach() > 0).long()


class Label2LabelHead(nn.Module):
    """AQN and IC-MLM on shared image features, trained in one stage with L_aqn + lambda L_mlm (eq. 4)."""

    prediction_key = "mlm"

    def __init__(self, dim: int, num_attributes: int, aqn_layers: int = 1, mlm_layers: int = 2,
                 num_heads: int = 4, ffn_dim: int = 2048, dropout: float = 0.1, mask_ratio: float = 0.1,
                 mask_strategy: str = "attribute_specific", mlm_weight: float = 1.0,
                 logit_bn: str = "none", mlm_dropout: float | None = None) -> None:
        super().__init__()
        self.pos = SinePositionEmbedding2D(dim)
        self.aqn = AttributeQueryNetwork(dim, num_attributes, aqn_layers, num_heads, ffn_dim, dropout)
        self.mlm = ImageConditionedMLM(dim, num_attributes, mlm_layers, num_heads, ffn_dim,
                                       dropout if mlm_dropout is None else mlm_dropout, mask_ratio, mask_strategy)
        self.loss_weights = {"aqn": 1.0, "mlm": mlm_weight}
        # official-code switches: BatchNorm1d on the IC-MLM logits ("mlm") or on both heads' logits
        # ("both"; the pseudo labels are then thresholded after the AQN's BN)
        self.aqn_bn = nn.BatchNorm1d(num_attributes) if logit_bn == "both" else nn.Identity()
        self.mlm_bn = nn.BatchNorm1d(num_attributes) if logit_bn in ("mlm", "both") else nn.Identity()

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        memory = flatten_features(features)  # shared with the AQN and not detached
        pos = self.pos(features.shape[2], features.shape[3], features.device, features.dtype)
        aqn_logits = self.aqn_bn(self.aqn(memory, pos))
        return {"aqn": aqn_logits, "mlm": self.mlm_bn(self.mlm(pseudo_labels(aqn_logits), memory, pos))}
