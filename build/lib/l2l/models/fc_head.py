"""FC Head baseline: global average pooling and one linear layer with M outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from l2l.config import ModelConfig


class FCHead(nn.Module):
    prediction_key = "fc"

    def __init__(self, dim: int, num_attributes: int, cfg: "ModelConfig") -> None:
        """Reads ``model.logit_bn``."""
        super().__init__()
        logit_bn = cfg.logit_bn
        self.fc = nn.Linear(dim, num_attributes)
        self.loss_weights = {"fc": 1.0}
        # official-code switch: BatchNorm1d on the logits ("both" = every head's logits)
        self.logit_bn = nn.BatchNorm1d(num_attributes) if logit_bn == "both" else nn.Identity()

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"fc": self.logit_bn(self.fc(features.mean(dim=(2, 3))))}
