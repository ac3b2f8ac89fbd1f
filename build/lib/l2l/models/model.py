"""A backbone, an optional 1×1 projection to d, and one head: the model every method trains."""

from __future__ import annotations

import torch
from torch import nn


class MultiAttributeModel(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module, projection: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        self.projection = projection if projection is not None else nn.Identity()

    @property
    def prediction_key(self) -> str:
        return self.head.prediction_key

    @property
    def loss_weights(self) -> dict[str, float]:
        """Weight of each output's BCE in the total loss (eq. 4 for Label2Label)."""
        return self.head.loss_weights

    def train(self, mode: bool = True) -> "MultiAttributeModel":
        """A head that refines a frozen stage-one model keeps backbone BatchNorm statistics fixed."""
        super().train(mode)
        if getattr(self.head, "freezes_backbone", False):
            self.backbone.eval()
            self.projection.eval()
        return self

    @property
    def accepts_mix(self) -> bool:
        """True when the head uses a Mixup batch's labels (label-embedding mixing, official LFWA code)."""
        return getattr(self.head, "accepts_mix", False)

    def forward(self, images: torch.Tensor, mix_lam: float | None = None,
                mix_labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """images B×3×H×W → {output name: logits B×M}; ``prediction_key`` names the final one.

        ``mix_lam`` and ``mix_labels`` (2×B×M: own labels, Mixup partner's labels) go to a head that
        ``accepts_mix``; any other head refuses them rather than silently ignoring them."""
        features = self.projection(self.backbone(images))
        if mix_lam is None:
            return self.head(features)
        if not self.accepts_mix:
            raise ValueError(f"{type(self.head).__name__} does not take mix_lam/mix_labels (accepts_mix is False)")
        return self.head(features, mix_lam=mix_lam, mix_labels=mix_labels)
