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

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images B×3×H×W → {output name: logits B×M}; ``prediction_key`` names the final one."""
        return self.head(self.projection(self.backbone(images)))
