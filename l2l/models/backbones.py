"""Backbones return the last feature map B×C×H×W (no global pooling) and declare C and stride.

Heads read ``out_channels`` instead of special-casing backbones by name.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
from torch import nn

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


def create_backbone(name: str, pretrained: bool = False) -> Backbone:
    if name not in _BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; available: {', '.join(list_backbones())}")
    return _BACKBONES[name](pretrained=pretrained)


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
def small_cnn(pretrained: bool = False) -> Backbone:
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


def _tv_model(name: str, pretrained: bool) -> nn.Module:
    return torchvision.models.get_model(name, weights="DEFAULT" if pretrained else None)


def _resnet(name: str) -> Callable[..., Backbone]:
    def make(pretrained: bool = False) -> Backbone:
        m = _tv_model(name, pretrained)
        body = nn.Sequential(*list(m.children())[:-2])  # drop avgpool and fc
        return TorchvisionFeatures(body, m.fc.in_features, 32)

    return make


for _name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
    register_backbone(_name)(_resnet(_name))


@register_backbone("alexnet")
def alexnet(pretrained: bool = False) -> Backbone:
    m = _tv_model("alexnet", pretrained)
    return TorchvisionFeatures(m.features[:-1], 256, 16)  # last conv stage, before the final max-pool
