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


@register_backbone("small_cnn_wide")
def small_cnn_wide(pretrained: bool = False) -> Backbone:
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
def vit_b_16(pretrained: bool = False) -> Backbone:
    """ViT-B/16 (224×224 input: its position embeddings are for a 14×14 grid)."""
    return ViTPatchGrid(_tv_model("vit_b_16", pretrained))
