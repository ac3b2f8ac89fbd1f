import dataclasses
from pathlib import Path

import pytest
import yaml

from l2l.config import DataConfig, ModelConfig, RunConfig, TrainConfig, resolve, with_overrides
from l2l.errors import UserError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def _defaults(cls):
    return {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("section, cls", [("model", ModelConfig), ("train", TrainConfig), ("data", DataConfig)])
def test_schema_defaults_match_run_config(section, cls):
    props = SCHEMA["properties"][section]["properties"]
    defaults = _defaults(cls)
    for key, spec in props.items():
        assert key in defaults, f"schema key {section}.{key} is not in {cls.__name__}"
        assert spec["default"] == defaults[key], f"{section}.{key}"


def test_every_schema_key_has_description_and_default():
    def walk(node, path):
        for key, spec in node.get("properties", {}).items():
            assert "description" in spec, f"{path}{key} lacks a description"
            assert "default" in spec, f"{path}{key} lacks a default"
            walk(spec, f"{path}{key}.")

    walk(SCHEMA, "")


def test_resolve_fills_defaults_and_fingerprint_ignores_tracking():
    cfg = resolve({"method": "aqn", "model": {"mask_ratio": 0.2}})
    assert cfg.model.mask_ratio == 0.2 and cfg.model.mlm_layers == 2
    other = resolve({"method": "aqn", "model": {"mask_ratio": 0.2}, "tracking": {"experiment": "x"}})
    assert cfg.fingerprint() == other.fingerprint()
    assert cfg.fingerprint() != resolve({"method": "aqn"}).fingerprint()


@pytest.mark.parametrize("data, message", [
    ({"method": "mlp"}, "unknown method 'mlp'"),
    ({"model": {"mask_ratio": 1.5}}, r"mask_ratio \(alpha\) must be in \[0, 1\]"),
    ({"model": {"mask_strategy": "random"}}, "unknown model.mask_strategy"),
    ({"model": {"layers": 2}}, "unknown config key.*model.layers"),
    ({"train": {"selection": "best_val"}, "data": {"val_split": None}}, "needs data.val_split"),
])
def test_bad_run_config_is_a_clear_error(data, message):
    with pytest.raises(UserError, match=message):
        resolve(data)


def test_overrides():
    cfg = with_overrides(RunConfig(), ["model.mlm_layers=3"])
    assert cfg.model.mlm_layers == 3
    with pytest.raises(UserError, match="not key=value"):
        with_overrides(RunConfig(), ["model.mlm_layers"])


@pytest.mark.parametrize("override, message", [
    ("train.lr=abc", r"config key train.lr must be a number, got 'abc' \(str\)"),
    ("train.epochs=2.5", r"config key train.epochs must be an integer, got 2.5"),
    ("seed=true", r"config key seed must be an integer, got True"),
    ("model.pretrained=1", r"config key model.pretrained must be true/false, got 1"),
    ("train.grad_clip=big", r"config key train.grad_clip must be a number or null, got 'big'"),
])
def test_wrong_types_are_a_clear_error(override, message):
    with pytest.raises(UserError, match=message):
        with_overrides(RunConfig(), [override])


def test_exponent_without_dot_is_a_number():
    """YAML 1.1 reads 1e30 as a string; a float key takes it as the number the user meant."""
    cfg = with_overrides(RunConfig(), ["train.lr=1e-4", "train.head_lr=null"])
    assert cfg.train.lr == 1e-4 and cfg.train.head_lr is None
