"""Multiply-accumulates per image, counted two ways by forward hooks on one real forward pass.

* ``full``: every multiply-add of a weight layer: convolutions, linear layers, the per-attribute
  classifiers, and in every multi-head attention the Q/K/V/output projections *and* the two
  attention products (QKᵀ and A·V). Element-wise work (norms, activations, softmax) is not a MAC.
* ``paper``: what a counter that hooks only ``nn.Conv2d`` / ``nn.Linear`` modules sees (thop-style),
  which is how Table 5's MACs were obtained. PyTorch's ``nn.MultiheadAttention`` never calls its
  projection modules, so in the AQN / IC-MLM heads only the FFN layers are counted: the paper's
  head costs (e.g. +0.33 G for one AQN layer on ResNet-50) are exactly the FFNs. The ViT backbone
  the paper used (timm) implements attention projections as ``nn.Linear``, so those count there
  (but not the attention products). The paper count therefore understates each decoder layer by
  its attention: 4·M·d² + 2·HW·d² (+ the products 2·M·(M + HW)·d) per layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from l2l.models.layers import PerAttributeLinear


def _attention_macs(module: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor) -> tuple[int, int]:
    """(projection MACs, product MACs) of one call, per image (batch_first inputs)."""
    lq, lk, d = query.shape[-2], key.shape[-2], module.embed_dim
    projections = lq * d * d + 2 * lk * d * d + lq * d * d  # Q, K, V in; output projection
    products = 2 * lq * lk * d  # QKᵀ and A·V over all heads
    return projections, products


def count_macs(model: nn.Module, images: torch.Tensor) -> dict[str, int]:
    """MACs per image of ``model(images)`` (images: 1×3×H×W), as ``{'paper': n, 'full': n}``."""
    totals = {"paper": 0, "full": 0}
    backbone_modules = {id(m) for m in getattr(model, "backbone", nn.Identity()).modules()}

    def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        batch = inputs[0].shape[0]
        if isinstance(module, nn.MultiheadAttention):
            proj, prod = _attention_macs(module, inputs[0], inputs[1])
            totals["full"] += proj + prod
            if id(module) in backbone_modules:
                totals["paper"] += proj
            return
        if isinstance(module, nn.Conv2d):
            n = output.numel() // batch * (module.in_channels // module.groups) * module.kernel_size[0] \
                * module.kernel_size[1]
        elif isinstance(module, nn.Linear):
            n = output.numel() // batch * module.in_features
        else:  # PerAttributeLinear: M dot products of length d
            totals["full"] += module.weight.numel()
            return
        totals["paper"] += n
        totals["full"] += n

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, nn.MultiheadAttention, PerAttributeLinear))]
    try:
        model.eval()
        with torch.enable_grad():  # keeps PyTorch's fused eval fast paths (which skip module hooks) off
            model(images)
    finally:
        for h in handles:
            h.remove()
    return totals


def model_macs(method: str, backbone: str, height: int, width: int, num_attributes: int, **model_kwargs: Any
               ) -> dict[str, Any]:
    """Build the model (random weights: MACs do not depend on them) and count one image."""
    from l2l.models import create_model

    model = create_model(method, backbone, num_attributes, pretrained=False, **model_kwargs)
    counts = count_macs(model, torch.zeros(1, 3, height, width))
    return {"method": method, "backbone": backbone, "height": height, "width": width,
            "num_attributes": num_attributes, **{k: v for k, v in model_kwargs.items()},
            "paper_macs": counts["paper"], "full_macs": counts["full"],
            "paper_gmacs": counts["paper"] / 1e9, "full_gmacs": counts["full"] / 1e9,
            "parameters": sum(p.numel() for p in model.parameters())}


def config_macs(cfg: Any, num_attributes: int | None = None) -> dict[str, Any]:
    """MACs of the model a run config builds (the same ``build_model`` as ``l2l train``, random weights);
    M from the run's prepared dataset (``data.path``) unless given."""
    import dataclasses

    from l2l.engine import build_model

    if num_attributes is None:
        from l2l.data import load_prepared

        num_attributes = len(load_prepared(cfg.data.path, check_images=False).attributes)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=False))
    model = build_model(cfg, num_attributes)
    height, width = cfg.data.image_size
    counts = count_macs(model, torch.zeros(1, 3, height, width))
    return {"method": cfg.method, "backbone": cfg.backbone, "height": height, "width": width,
            "num_attributes": num_attributes, "protocol": cfg.protocol, "model": dataclasses.asdict(cfg.model),
            "paper_macs": counts["paper"], "full_macs": counts["full"],
            "paper_gmacs": counts["paper"] / 1e9, "full_gmacs": counts["full"] / 1e9,
            "parameters": sum(p.numel() for p in model.parameters())}
