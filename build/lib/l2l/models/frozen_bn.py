"""Frozen BatchNorm for the backbone (an official-code detail on LFWA, not stated in the paper).

Each ``BatchNorm2d`` becomes torchvision's ``FrozenBatchNorm2d`` with the same statistics and affine
values, held as buffers: training neither updates the running statistics nor the scale/shift, and
``model.train()`` does not switch it to batch statistics.
"""

from __future__ import annotations

from torch import nn
from torchvision.ops import FrozenBatchNorm2d


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d below ``module`` in place (and return ``module``, or its replacement)."""
    if isinstance(module, nn.BatchNorm2d):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        if module.affine:
            frozen.weight.copy_(module.weight.detach())
            frozen.bias.copy_(module.bias.detach())
        if module.track_running_stats and module.running_mean is not None:
            frozen.running_mean.copy_(module.running_mean)
            frozen.running_var.copy_(module.running_var)
        return frozen
    for name, child in module.named_children():
        new = freeze_batchnorm(child)
        if new is not child:
            setattr(module, name, new)
    return module
