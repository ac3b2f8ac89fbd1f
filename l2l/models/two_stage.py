"""Table 7's two-stage label refiners: a frozen, trained AQN makes pseudo labels; only a new head learns.

* ``mlm_mlp``: MLM as a multilayer perceptron on the masked label sentence (no image input).
* ``mlm_encoder``: MLM as a Transformer encoder over the label-word embeddings (no image input).
* ``icmlm_2stage``: the IC-MLM (Transformer decoder) on the frozen image features of the AQN run.

The backbone and AQN are loaded from the AQN run (:func:`init_from_stage_one`) and frozen by
``requires_grad = False`` and eval mode; the head's ``loss_weights`` name only the refiner's output,
so the engine's one training loop trains the refiner alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from l2l.models.aqn import AttributeQueryNetwork
from l2l.models.label2label import (ImageConditionedMLM, LabelWordEmbedding, mix_words, pseudo_labels,
                                   random_mask)
from l2l.models.layers import PerAttributeLinear, SinePositionEmbedding2D, flatten_features

if TYPE_CHECKING:
    from l2l.config import ModelConfig


class MaskedSentenceMLP(nn.Module):
    """MLM with an MLP: each word as (value, is-[mask]) -> D hidden layers -> M logits."""

    def __init__(self, num_attributes: int, hidden: int, num_layers: int, dropout: float, mask_ratio: float) -> None:
        super().__init__()
        self.mask_ratio = mask_ratio
        layers: list[nn.Module] = []
        width = 2 * num_attributes
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, num_attributes))

    def forward(self, words: torch.Tensor, mix_lam: float | None = None,
                mix_labels: torch.Tensor | None = None) -> torch.Tensor:
        masked = random_mask(words, self.mask_ratio, self.training)
        values = words.float()
        if mix_lam is not None:  # the MLP's "embedding" of a word is its value: mix the values
            values = mix_lam * values + (1 - mix_lam) * mix_words(words, mix_lam, mix_labels).float()
        x = torch.cat([values * ~masked, masked.float()], dim=-1)
        return self.mlp(x)


class MaskedSentenceEncoder(nn.Module):
    """MLM with a Transformer encoder: label-word embeddings (no position) -> D encoder layers."""

    def __init__(self, dim: int, num_attributes: int, num_layers: int, num_heads: int, ffn_dim: int,
                 dropout: float, mask_ratio: float, mask_strategy: str, embedding_init: str) -> None:
        super().__init__()
        self.mask_ratio = mask_ratio
        self.embedding = LabelWordEmbedding(num_attributes, dim, mask_strategy, embedding_init)
        layer = nn.TransformerEncoderLayer(dim, num_heads, ffn_dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.classifier = PerAttributeLinear(num_attributes, dim)

    def forward(self, words: torch.Tensor, mix_lam: float | None = None,
                mix_labels: torch.Tensor | None = None) -> torch.Tensor:
        second = None if mix_lam is None else mix_words(words, mix_lam, mix_labels)
        tokens = self.embedding(words, random_mask(words, self.mask_ratio, self.training), mix_lam, second)
        return self.classifier(self.encoder(tokens))


class TwoStageHead(nn.Module):
    """Frozen AQN (same parameter names as :class:`AQNHead`, so its state loads as is) + a refiner."""

    prediction_key = "mlm"
    accepts_mix = True  # a Mixup batch's mix_lam / mix_labels reach the refiner's word embeddings
    freezes_backbone = True
    frozen_prefixes = ("backbone.", "projection.", "head.pos.", "head.aqn.")

    def __init__(self, dim: int, num_attributes: int, refiner: nn.Module, image_conditioned: bool,
                 cfg: "ModelConfig") -> None:
        """The frozen AQN reads the AQN's keys (:meth:`AttributeQueryNetwork.from_config`)."""
        super().__init__()
        self.pos = SinePositionEmbedding2D.from_config(dim, cfg)
        self.aqn = AttributeQueryNetwork.from_config(dim, num_attributes, cfg)
        self.refiner, self.image_conditioned = refiner, image_conditioned
        self.loss_weights = {"mlm": 1.0}  # the AQN is not trained again
        self.aqn.requires_grad_(False)

    def train(self, mode: bool = True) -> "TwoStageHead":
        super().train(mode)
        self.aqn.eval()  # frozen: no dropout, pseudo labels as at stage-one inference
        return self

    def forward(self, features: torch.Tensor, mix_lam: float | None = None,
                mix_labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        memory = flatten_features(features)
        pos = self.pos(features.shape[2], features.shape[3], features.device, features.dtype)
        aqn_logits = self.aqn(memory, pos)
        words = pseudo_labels(aqn_logits)
        if self.image_conditioned:
            refined = self.refiner(words, memory.detach(), pos, mix_lam, mix_labels)
        else:
            refined = self.refiner(words, mix_lam, mix_labels)
        return {"aqn": aqn_logits, "mlm": refined}


def mlm_mlp_head(dim: int, num_attributes: int, cfg: "ModelConfig") -> TwoStageHead:
    """Reads ``model.ffn_dim`` (the MLP's width), ``mlm_layers``, ``dropout``, ``mask_ratio`` and the AQN's keys."""
    refiner = MaskedSentenceMLP(num_attributes, cfg.ffn_dim, cfg.mlm_layers, cfg.dropout, cfg.mask_ratio)
    return TwoStageHead(dim, num_attributes, refiner, False, cfg)


def mlm_encoder_head(dim: int, num_attributes: int, cfg: "ModelConfig") -> TwoStageHead:
    """Reads ``model.mlm_layers``, ``num_heads``, ``ffn_dim``, ``dropout``, ``mask_ratio``, ``mask_strategy``,
    ``label_embedding_init`` and the AQN's keys."""
    refiner = MaskedSentenceEncoder(dim, num_attributes, cfg.mlm_layers, cfg.num_heads, cfg.ffn_dim, cfg.dropout,
                                    cfg.mask_ratio, cfg.mask_strategy, cfg.label_embedding_init)
    return TwoStageHead(dim, num_attributes, refiner, False, cfg)


def icmlm_2stage_head(dim: int, num_attributes: int, cfg: "ModelConfig") -> TwoStageHead:
    """The IC-MLM's keys (:meth:`ImageConditionedMLM.from_config`; ``model.mlm_dropout`` is not read) and the AQN's."""
    refiner = ImageConditionedMLM.from_config(dim, num_attributes, cfg)
    return TwoStageHead(dim, num_attributes, refiner, True, cfg)


def init_from_stage_one(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load the AQN run's weights into the frozen part of a two-stage model and freeze it.

    Every frozen parameter must come from ``state`` (a mismatch, e.g. another backbone or L,
    raises ValueError); the refiner keeps its fresh initialisation."""
    prefixes = model.head.frozen_prefixes
    own = model.state_dict()
    wanted = [k for k in own if k.startswith(prefixes)]
    missing = [k for k in wanted if k not in state]
    shape = [k for k in wanted if k in state and state[k].shape != own[k].shape]
    if missing or shape:
        raise ValueError(f"stage-one checkpoint does not fit this model: missing {missing[:3]}, "
                         f"shape mismatch {shape[:3]}; it must be an AQN run with the same backbone, "
                         f"aqn_layers, ffn_dim and projection")
    model.load_state_dict({**own, **{k: state[k] for k in wanted}})
    for name, p in model.named_parameters():
        if name.startswith(prefixes):
            p.requires_grad_(False)
