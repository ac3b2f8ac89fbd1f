"""Building blocks shared by the AQN and the IC-MLM (paper eqs. 1-2)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from l2l.config import ModelConfig


POS_EMBEDDING_LAYOUTS = ("centered", "official")


class SinePositionEmbedding2D(nn.Module):
    """Fixed 2-D sine/cosine position embedding X_pos (DETR style), HW×d, added to the attention keys only.

    The paper adds X_pos to the features themselves (X̃ = X′ + X_pos, Sec. 3.2); the authors' code adds it
    to the keys of the cross-attention only (``with_pos_embed(memory, pos)`` as key, ``memory`` as value),
    and so do we. The first d/2 channels encode the row, the last d/2 the column; frequencies
    T^(j/(d/4)), j = 0..d/4-1, in both layouts. ``layout`` (``model.pos_embedding``):

    * ``centered`` (ours): row i of H at (i + ½)/H·2π, i = 0..H-1; per half all sines, then all cosines;
    * ``official`` (the authors' ``PositionEmbeddingSine(normalize=True)`` in ``model.py`` of both
      folders): row i at i/(H + 10⁻⁶)·2π, i = 1..H (cumsum/max); per half sin and cos interleaved per
      frequency (sin f₀, cos f₀, sin f₁, cos f₁, …).
    """

    def __init__(self, dim: int, layout: str, temperature: float = 10000.0) -> None:
        super().__init__()
        if dim % 4:
            raise ValueError(f"sine position embedding needs d divisible by 4, got {dim}")
        if layout not in POS_EMBEDDING_LAYOUTS:
            raise ValueError(f"unknown position embedding layout '{layout}'; choose one of {POS_EMBEDDING_LAYOUTS}")
        self.dim, self.layout, self.temperature = dim, layout, temperature
        self._cache: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    @classmethod
    def from_config(cls, dim: int, cfg: "ModelConfig") -> "SinePositionEmbedding2D":
        """Reads ``model.pos_embedding`` (the layout)."""
        return cls(dim, cfg.pos_embedding)

    def _positions(self, n: int) -> torch.Tensor:
        i = torch.arange(n, dtype=torch.float64)
        if self.layout == "official":
            return (i + 1) / (n + 1e-6) * 2 * math.pi
        return (i + 0.5) / n * 2 * math.pi

    def _encode(self, positions: torch.Tensor) -> torch.Tensor:
        """n positions → n×d/2: sines and cosines of every frequency, in the layout's channel order."""
        quarter = self.dim // 4
        freq = self.temperature ** (torch.arange(quarter, dtype=torch.float64) / quarter)
        angles = positions[:, None] / freq  # n×q
        if self.layout == "official":
            return torch.stack([angles.sin(), angles.cos()], dim=2).flatten(1)
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    def forward(self, height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (height, width, device, dtype)
        if key not in self._cache:
            half = self.dim // 2
            py = self._encode(self._positions(height))[:, None, :].expand(height, width, half)
            px = self._encode(self._positions(width))[None, :, :].expand(height, width, half)
            pos = torch.cat([py, px], dim=-1).reshape(height * width, self.dim)
            self._cache[key] = pos.to(device=device, dtype=dtype)
        return self._cache[key]


class DecoderLayer(nn.Module):
    """One pre-norm Transformer decoder layer, written as eq. 1/2 of the paper.

    Q_sa = MultiHead(Q, Q, Q); Q_ca = MultiHead(Q_sa, X + X_pos, X); Q' = FFN(Q_ca),
    each with a residual connection and LayerNorm before the sub-layer.
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim))
        self.norm_sa, self.norm_ca, self.norm_ffn = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.record_attention = False  # keep the self-attention weights (for the paper's Fig. 3)
        self.self_attention: torch.Tensor | None = None

    def forward(self, queries: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        q = self.norm_sa(queries)
        sa, weights = self.self_attn(q, q, q, need_weights=self.record_attention, average_attn_weights=False)
        if self.record_attention:
            self.self_attention = weights.detach()  # B×heads×M×M
        queries = queries + self.drop(sa)
        ca, _ = self.cross_attn(self.norm_ca(queries), memory + pos, memory, need_weights=False)
        queries = queries + self.drop(ca)
        return queries + self.drop(self.ffn(self.norm_ffn(queries)))


class Decoder(nn.Module):
    """A stack of decoder layers with the final LayerNorm a pre-norm stack needs."""

    def __init__(self, num_layers: int, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            queries = layer(queries, memory, pos)
        return self.norm(queries)


class PerAttributeLinear(nn.Module):
    """M independent binary classifiers: logit_j = W_j^T r_j + b_j, each on its own response vector."""

    def __init__(self, num_attributes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_attributes, dim))
        self.bias = nn.Parameter(torch.zeros(num_attributes))
        nn.init.normal_(self.weight, std=dim**-0.5)

    def forward(self, responses: torch.Tensor) -> torch.Tensor:
        return (responses * self.weight).sum(-1) + self.bias


EMBEDDING_INITS = ("scaled", "normal")


def embedding_table(rows: int, dim: int, init: str = "scaled") -> nn.Parameter:
    """A learned embedding table (queries, label words, [mask] words), rows×dim.

    ``scaled``: N(0, 1/d), so a token has unit norm in expectation (our default).
    ``normal``: N(0, 1), what ``nn.Embedding`` gives and what the official code uses. Both draw one
    ``randn`` of the same shape, so switching the init does not shift the RNG stream of what follows.
    """
    if init not in EMBEDDING_INITS:
        raise ValueError(f"unknown embedding init '{init}'; choose one of {EMBEDDING_INITS}")
    table = torch.randn(rows, dim)
    return nn.Parameter(table * dim**-0.5 if init == "scaled" else table)


def feature_dropout(p: float) -> nn.Module:
    """Dropout on the response vectors before the classifiers (the official ``dropout_feas``).

    p = 0 gives an Identity, so the default draws no random numbers and keeps older runs' streams."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"feature dropout must be in [0, 1), got {p}")
    return nn.Dropout(p) if p > 0 else nn.Identity()


def flatten_features(features: torch.Tensor) -> torch.Tensor:
    """B×d×H×W → B×HW×d (X' in the paper)."""
    return features.flatten(2).transpose(1, 2)
