"""Backbones return the last feature map B×C×H×W (no global pooling) and declare C and stride.

Heads read ``out_channels`` instead of special-casing backbones by name. Pretrained weights come from
a named source (``model.weights``): torchvision's DEFAULT / IMAGENET1K_V1 / IMAGENET1K_V2 enum members,
or timm's pretrained ResNets (optional extra ``pip install '.[timm]'``), loaded into the same
torchvision architecture. ResNets take stochastic depth (``model.drop_path``) in their residual blocks.
"""

from __future__ import annotations

import os
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import StochasticDepth

from l2l import pretrained as weights_cache
from l2l.pretrained import TIMM_EXTRA, TIMM_NAMES, WEIGHT_SOURCES, select_weights, weights_source  # noqa: F401
from l2l.config import ModelConfig


def _timm_state_dict(name: str) -> dict[str, torch.Tensor]:
    try:
        import timm
    except ImportError as e:
        raise ValueError(TIMM_EXTRA) from e
    return timm.create_model(name, pretrained=True).state_dict()


def _load_timm(model: nn.Module, name: str) -> None:
    """Load timm's pretrained ResNet into the torchvision ResNet (the classifier ``fc`` is not used)."""
    _load_timm_state(model, {k: v for k, v in _timm_state_dict(name).items() if not k.startswith("fc.")}, name)


def _load_timm_state(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"timm {name} weights do not fit torchvision's layout: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")


class DropPathBottleneck(Bottleneck):
    """torchvision's Bottleneck with stochastic depth on the residual branch before the sum (timm's place)."""

    drop_path: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(self.drop_path(out) + identity)


class DropPathBasicBlock(BasicBlock):
    """torchvision's BasicBlock with stochastic depth on the residual branch before the sum."""

    drop_path: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(self.drop_path(out) + identity)


def add_drop_path(module: nn.Module, rate: float) -> list[float]:
    """Stochastic depth in every residual block, timm's linear rule: block i of n drops its branch with
    probability rate·i/(n-1) per sample (0 for the first block, ``rate`` for the last), in training only.

    The blocks keep their parameters and state-dict keys (only their class changes), so pretrained
    weights and ``freeze_bn`` work as before; the Bernoulli draws use torch's global RNG, which the
    engine seeds. Returns the per-block rates: none for a backbone without ResNet blocks (ViT, AlexNet,
    the small CNNs), which the switch leaves as it is, as a head ignores the keys it does not use (the
    official LFWA code has no such backbone: its drop path is timm's ResNet one)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"model.drop_path must be in [0, 1), got {rate}")
    blocks = [m for m in module.modules() if isinstance(m, (Bottleneck, BasicBlock))]
    rates = [rate * i / max(len(blocks) - 1, 1) for i in range(len(blocks))]
    for block, p in zip(blocks, rates):
        block.__class__ = DropPathBottleneck if isinstance(block, Bottleneck) else DropPathBasicBlock
        block.drop_path = StochasticDepth(p, mode="row")
    return rates

_BACKBONES: dict[str, Callable[..., "Backbone"]] = {}


class Backbone(nn.Module):
    out_channels: int
    stride: int


def register_backbone(name: str) -> Callable:
    def deco(fn: Callable[..., Backbone]) -> Callable[..., Backbone]:
        _BACKBONES[name] = fn
        return fn

    return deco


def list_backbones() -> list[str]:
    return sorted(_BACKBONES)


def create_backbone(name: str, cfg: ModelConfig | None = None, **overrides: Any) -> Backbone:
    """The backbone ``name`` built from ``cfg`` (default ModelConfig()) with ``overrides`` (ModelConfig keys)
    on top: reads ``model.pretrained``, ``weights`` (the source, used only when pretrained) and ``drop_path``."""
    if name not in _BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; available: {', '.join(list_backbones())}")
    cfg = dataclasses.replace(cfg or ModelConfig(), **overrides)
    source = weights_source(cfg.weights, name) if cfg.pretrained else None
    body = _BACKBONES[name](pretrained=cfg.pretrained, source=source)
    if cfg.drop_path > 0:
        add_drop_path(body, cfg.drop_path)
    return body


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(Backbone):
    """Four conv-BN-ReLU blocks, stride 4: a backbone a laptop CPU trains in seconds on 32 px images."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(3, width // 2, 1), _conv_bn(width // 2, width, 2),
            _conv_bn(width, width, 1), _conv_bn(width, 2 * width, 2),
        )
        self.out_channels, self.stride = 2 * width, 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_backbone("small_cnn")
def small_cnn(pretrained: bool, source: str | None) -> Backbone:
    if pretrained:
        raise ValueError("small_cnn has no pretrained weights; set model.pretrained: false")
    return SmallCNN()


class TorchvisionFeatures(Backbone):
    """A torchvision classifier cut before its pooling/classifier, weights via the weights API."""

    def __init__(self, body: nn.Module, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body, self.out_channels, self.stride = body, out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _tv_model(name: str, pretrained: bool, source: str | None = "torchvision_default") -> nn.Module:
    if not pretrained:
        return torchvision.models.get_model(name, weights=None)
    cache = os.environ.get(weights_cache.ENV_DIR)
    if cache:  # a train job of the workflow: the fetched file only, never the internet (docs/weights.md)
        return _cached_model(name, source or "torchvision_default", cache)
    library, identifier = select_weights(name, source or "torchvision_default")
    if library == "torchvision":
        return torchvision.models.get_model(name, weights=identifier)
    model = torchvision.models.get_model(name, weights=None)
    _load_timm(model, identifier)
    return model


def _cached_model(name: str, source: str, cache: str) -> nn.Module:
    """The architecture with the weights of the cache's file (sha256-checked, weights_only / safetensors)."""
    wf = weights_cache.weight_file(name, source)
    state = weights_cache.load_state_dict(wf, cache)
    model = torchvision.models.get_model(name, weights=None)
    if wf.library == "timm":
        _load_timm_state(model, {k: v for k, v in state.items() if not k.startswith("fc.")}, wf.identifier)
    else:
        model.load_state_dict(state)
    return model


def _resnet(name: str) -> Callable[..., Backbone]:
    def make(pretrained: bool, source: str | None) -> Backbone:
        m = _tv_model(name, pretrained, source)
        body = nn.Sequential(*list(m.children())[:-2])  # drop avgpool and fc
        return TorchvisionFeatures(body, m.fc.in_features, 32)

    return make


for _name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
    register_backbone(_name)(_resnet(_name))


@register_backbone("alexnet")
def alexnet(pretrained: bool, source: str | None) -> Backbone:
    m = _tv_model("alexnet", pretrained, source)
    return TorchvisionFeatures(m.features[:-1], 256, 16)  # last conv stage, before the final max-pool


@register_backbone("small_cnn_wide")
def small_cnn_wide(pretrained: bool, source: str | None) -> Backbone:
    """SmallCNN at twice the width (d = 128): the demo's second, costlier backbone for Table 5."""
    if pretrained:
        raise ValueError("small_cnn_wide has no pretrained weights; set model.pretrained: false")
    return SmallCNN(width=64)


class ViTPatchGrid(Backbone):
    """ViT's encoder output without the class token, reshaped to the patch grid: B×768×H/16×W/16.

    The patch tokens are the 'local visual features' the AQN attends to (the paper's ViT-B row).
    """

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.vit = vit
        self.out_channels, self.stride = vit.hidden_dim, vit.patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.vit._process_input(x)  # B×(HW)×d, checks the input size the model was built for
        cls = self.vit.class_token.expand(x.shape[0], -1, -1)
        tokens = self.vit.encoder(torch.cat([cls, tokens], dim=1))[:, 1:]
        h, w = x.shape[2] // self.stride, x.shape[3] // self.stride
        return tokens.transpose(1, 2).reshape(x.shape[0], self.out_channels, h, w)


@register_backbone("vit_b_16")
def vit_b_16(pretrained: bool, source: str | None) -> Backbone:
    """ViT-B/16 (224×224 input: its position embeddings are for a 14×14 grid)."""
    return ViTPatchGrid(_tv_model("vit_b_16", pretrained, source))
