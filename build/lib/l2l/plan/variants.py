"""Canonical variant names: the same run parameters always give the same run folder.

A run folder is ``.../{method}/{variant}/seed{N}``. ``variant`` is ``base`` (the dataset's config as
written) or the overrides that differ from it, sorted and joined by ``,``: ``mlm_layers=3``,
``mask_ratio=0.2,mlm_weight=0.5``, ``train.lr=0.01``. Model keys are written bare, other sections
with their prefix. Overrides equal to the base value are dropped, so Table 4's λ = 1 cell and
Table 1's D = 2 cell are both the ``base`` run and are trained once.

Pure Python (no torch): the planning layer (l2l.plan) names and parses run folders with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from l2l.config import DataConfig, ModelConfig, TrainConfig
from l2l.errors import UserError
from l2l.methods import method_spec

BASE = "base"
SECTIONS = {"model": ModelConfig, "train": TrainConfig, "data": DataConfig}


def _defaults(section: str) -> dict[str, Any]:
    return {f.name: (f.default_factory() if callable(f.default_factory) else f.default)  # type: ignore[misc]
            for f in fields(SECTIONS[section])}


def full_key(key: str) -> str:
    """'mlm_layers' -> 'model.mlm_layers'; 'train.lr' stays. Raises UserError for unknown keys."""
    section, _, name = key.rpartition(".")
    section = section or "model"
    if section not in SECTIONS or name not in _defaults(section):
        valid = ", ".join(f.name for f in fields(ModelConfig))
        raise UserError(f"variant key '{key}' is not a config key; use a model key ({valid}) "
                        f"or train.<key> / data.<key>")
    return f"{section}.{name}"


def short_key(key: str) -> str:
    section, _, name = full_key(key).partition(".")
    return name if section == "model" else f"{section}.{name}"


def _coerce(key: str, value: Any) -> Any:
    """Give a value the type of the key's default (YAML reads 0 for a float key as an int)."""
    section, _, name = full_key(key).partition(".")
    default = _defaults(section)[name]
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "x".join(format_value(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def parse_value(key: str, text: str) -> Any:
    import yaml

    section, _, name = full_key(key).partition(".")
    if isinstance(_defaults(section)[name], list):
        return [yaml.safe_load(v) for v in text.split("x")] if text else []
    return _coerce(key, yaml.safe_load(text))


def _lookup(config: Mapping[str, Any], key: str) -> Any:
    section, _, name = full_key(key).partition(".")
    sec = config.get(section, {}) or {}
    return sec[name] if name in sec else _defaults(section)[name]


def variant_name(overrides: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> str:
    """Canonical folder name of ``overrides`` (flat ``key: value``) relative to the run config ``base``
    (nested ``{model: {...}, train: {...}, data: {...}}``; missing keys take RunConfig's defaults)."""
    base = base or {}
    parts = {}
    for key, value in overrides.items():
        value = _coerce(key, value)
        if value != _coerce(key, _lookup(base, key)):
            parts[short_key(key)] = format_value(value)
    return ",".join(f"{k}={parts[k]}" for k in sorted(parts)) or BASE


def parse_variant(name: str) -> dict[str, Any]:
    """Folder name -> flat overrides ``{'model.mlm_layers': 3, ...}`` (``base`` -> ``{}``)."""
    if name == BASE:
        return {}
    out = {}
    for item in name.split(","):
        key, sep, text = item.partition("=")
        if not sep:
            raise UserError(f"variant '{name}': '{item}' is not key=value (e.g. mlm_layers=3)")
        out[full_key(key)] = parse_value(key, text)
    return out


def nested(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Flat ``{'model.x': v}`` -> ``{'model': {'x': v}}`` (what run configs merge)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, _, name = full_key(key).partition(".")
        out.setdefault(section, {})[name] = value
    return out


def stage_one_variant(name: str, base: Mapping[str, Any] | None = None, method: str = "icmlm_2stage") -> str:
    """Variant of the stage-one run that a two-stage ``method`` run of variant ``name`` refines: the
    keys only the refiner reads (its catalogue entry's ``mlm_keys``) dropped."""
    drop = set(method_spec(method).mlm_keys)
    keep = {k: v for k, v in parse_variant(name).items() if k not in drop}
    return variant_name(keep, base)
