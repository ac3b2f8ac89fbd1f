"""Label2Label (Sec. 3.3-3.4): AQN pseudo labels → masked label "sentence" → IC-MLM (eqs. 2-4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from l2l.methods import MASK_STRATEGIES
from l2l.models.aqn import AttributeQueryNetwork
from l2l.models.layers import (Decoder, PerAttributeLinear, SinePositionEmbedding2D, embedding_table,
                               feature_dropout, flatten_features)

if TYPE_CHECKING:
    from l2l.config import ModelConfig


class LabelWordEmbedding(nn.Module):
    """Vocabulary of 2M words ("attribute j = 1", "attribute j = 0") plus the [mask] word.

    [mask] strategies: ``attribute_specific`` (M learned embeddings), ``attribute_agnostic``
    (one learned embedding shared by all attributes), ``zero`` (a fixed zero vector).
    No positional embedding: the label sentence is unordered. ``embedding_init``: ``scaled``
    N(0, 1/d) or ``normal`` N(0, 1) (the official code's ``nn.Embedding``).
    """

    def __init__(self, num_attributes: int, dim: int, mask_strategy: str, embedding_init: str) -> None:
        super().__init__()
        if mask_strategy not in MASK_STRATEGIES:
            raise ValueError(f"unknown mask strategy '{mask_strategy}'; choose one of {MASK_STRATEGIES}")
        self.present = embedding_table(num_attributes, dim, embedding_init)  # E_1 per attribute
        self.absent = embedding_table(num_attributes, dim, embedding_init)  # E_0 per attribute
        self.mask_strategy = mask_strategy
        if mask_strategy == "attribute_specific":
            self.mask = embedding_table(num_attributes, dim, embedding_init)
        elif mask_strategy == "attribute_agnostic":
            self.mask = embedding_table(1, dim, embedding_init)
        else:
            self.register_buffer("mask", torch.zeros(1, dim))

    def lookup(self, words: torch.Tensor) -> torch.Tensor:
        """words: B×M in {0,1} → their embeddings E_1 / E_0, B×M×d."""
        return torch.where(words.unsqueeze(-1) > 0, self.present, self.absent)

    def forward(self, words: torch.Tensor, masked: torch.Tensor, mix_lam: float | None = None,
                second_words: torch.Tensor | None = None) -> torch.Tensor:
        """words: B×M in {0,1}; masked: B×M bool → token embeddings E: B×M×d.

        In a Mixup batch (``mix_lam`` set) a token is lam·E(word) + (1-lam)·E(mix word), mixed before
        the [mask] replacement, as in the official code."""
        tokens = self.lookup(words)
        if mix_lam is not None:
            tokens = mix_lam * tokens + (1 - mix_lam) * self.lookup(second_words)
        return torch.where(masked.unsqueeze(-1), self.mask.expand_as(self.present), tokens)


def mix_words(words: torch.Tensor, mix_lam: float, mix_labels: torch.Tensor) -> torch.Tensor:
    """The second word sequence of a Mixup batch's label sentence (official Face/PA ``LabelHead``).

    ``mix_labels``: 2×B×M, [0] each image's own ground truth, [1] its Mixup partner's (-1 = unknown).
    The official code keeps the pseudo label where it equals the dominant image's label (the own one
    if lam > 0.5, else the partner's) and takes the other image's label elsewhere. For binary labels
    both branches give the same words, whatever lam: the two images' label where they agree, the
    pseudo label where they differ. That form is used here, so ``mix_lam`` only checks the call; an
    unknown label (the official datasets have none) counts as no agreement: the pseudo label stays.
    """
    shape_ok = mix_labels is not None and mix_labels.dim() == 3 and mix_labels.shape[0] == 2
    if not shape_ok or mix_labels.shape[1:] != words.shape:
        got = None if mix_labels is None else tuple(mix_labels.shape)
        raise ValueError(f"mix_labels must be 2×B×M (own labels, partner's labels) for words of shape "
                         f"{tuple(words.shape)}, got {got}")
    if not 0.0 <= mix_lam <= 1.0:
        raise ValueError(f"mix_lam must be in [0, 1], got {mix_lam}")
    own, partner = mix_labels[0].to(words.dtype), mix_labels[1].to(words.dtype)
    agree = (own == partner) & (own >= 0)
    return torch.where(agree, own, words)


def random_mask(words: torch.Tensor, ratio: float, training: bool) -> torch.Tensor:
    """Which words become [mask]: each with probability ``ratio`` in training, none at evaluation."""
    if not training or ratio == 0.0:
        return torch.zeros_like(words, dtype=torch.bool)
    return torch.rand(words.shape, device=words.device) < ratio


class ImageConditionedMLM(nn.Module):
    """IC-MLM: D decoder layers whose queries are the label tokens, cross-attending to the image.

    Models P(y_1..y_M | x, M(s_1)..M(s_M)); in training each word is replaced by [mask]
    with probability alpha, independently; at inference nothing is masked.
    """

    def __init__(self, dim: int, num_attributes: int, num_layers: int, num_heads: int, ffn_dim: int,
                 dropout: float, *, mask_ratio: float, mask_strategy: str, feature_dropout_p: float,
                 embedding_init: str) -> None:
        super().__init__()
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f"mask ratio alpha must be in [0, 1], got {mask_ratio}")
        self.mask_ratio = mask_ratio
        self.embedding = LabelWordEmbedding(num_attributes, dim, mask_strategy, embedding_init)
        self.decoder = Decoder(num_layers, dim, num_heads, ffn_dim, dropout)
        self.classifier = PerAttributeLinear(num_attributes, dim)
        self.feature_dropout = feature_dropout(feature_dropout_p)

    @classmethod
    def from_config(cls, dim: int, num_attributes: int, cfg: "ModelConfig",
                    decoder_dropout: float | None = None) -> "ImageConditionedMLM":
        """Reads ``model.mlm_layers``, ``num_heads``, ``ffn_dim``, ``mask_ratio``, ``mask_strategy``,
        ``feature_dropout``, ``label_embedding_init`` and ``dropout`` unless the caller gives another
        ``decoder_dropout`` (Label2Label: ``model.mlm_dropout`` when set)."""
        dropout = cfg.dropout if decoder_dropout is None else decoder_dropout
        return cls(dim, num_attributes, cfg.mlm_layers, cfg.num_heads, cfg.ffn_dim, dropout,
                   mask_ratio=cfg.mask_ratio, mask_strategy=cfg.mask_strategy, feature_dropout_p=cfg.feature_dropout,
                   embedding_init=cfg.label_embedding_init)

    def random_mask(self, words: torch.Tensor) -> torch.Tensor:
        return random_mask(words, self.mask_ratio, self.training)

    def forward(self, words: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor, mix_lam: float | None = None,
                mix_labels: torch.Tensor | None = None) -> torch.Tensor:
        """words: B×M pseudo labels; memory B×HW×d; pos HW×d → logits of p_j (eq. 3), B×M.

        ``mix_lam`` / ``mix_labels`` (2×B×M): a Mixup batch's label-embedding mixing, see :func:`mix_words`."""
        masked = self.random_mask(words)
        if mix_lam is None:
            tokens = self.embedding(words, masked)  # E_0
        else:
            tokens = self.embedding(words, masked, mix_lam, mix_words(words, mix_lam, mix_labels))
        return self.classifier(self.feature_dropout(self.decoder(tokens, memory, pos)))  # R' = E_D


def pseudo_labels(logits: torch.Tensor) -> torch.Tensor:
    """s_j = 1[l_j > 0.5] = 1[logit_j > 0]: a hard threshold, so no gradient flows through it."""
    return (logits.detach() > 0).long()


class Label2LabelHead(nn.Module):
    """AQN and IC-MLM on shared image features, trained in one stage with L_aqn + lambda L_mlm (eq. 4).

    ``accepts_mix``: the engine may pass a Mixup batch's ``mix_lam`` and ``mix_labels`` to ``forward``."""

    prediction_key = "mlm"
    accepts_mix = True

    def __init__(self, dim: int, num_attributes: int, cfg: "ModelConfig") -> None:
        """Reads the AQN's and the IC-MLM's keys (their ``from_config``), ``model.mlm_dropout``,
        ``mlm_weight`` and ``logit_bn``."""
        super().__init__()
        self.pos = SinePositionEmbedding2D.from_config(dim, cfg)
        self.aqn = AttributeQueryNetwork.from_config(dim, num_attributes, cfg)
        self.mlm = ImageConditionedMLM.from_config(dim, num_attributes, cfg, cfg.mlm_dropout)
        self.loss_weights = {"aqn": 1.0, "mlm": cfg.mlm_weight}
        logit_bn = cfg.logit_bn
        # official-code switches: BatchNorm1d on the IC-MLM logits ("mlm") or on both heads' logits
        # ("both"; the pseudo labels are then thresholded after the AQN's BN)
        self.aqn_bn = nn.BatchNorm1d(num_attributes) if logit_bn == "both" else nn.Identity()
        self.mlm_bn = nn.BatchNorm1d(num_attributes) if logit_bn in ("mlm", "both") else nn.Identity()

    def forward(self, features: torch.Tensor, mix_lam: float | None = None,
                mix_labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """features B×d×H×W → {"aqn", "mlm"} logits; ``mix_lam`` None (default) is a plain batch."""
        memory = flatten_features(features)  # shared with the AQN and not detached
        pos = self.pos(features.shape[2], features.shape[3], features.device, features.dtype)
        aqn_logits = self.aqn_bn(self.aqn(memory, pos))
        mlm_logits = self.mlm(pseudo_labels(aqn_logits), memory, pos, mix_lam, mix_labels)
        return {"aqn": aqn_logits, "mlm": self.mlm_bn(mlm_logits)}
