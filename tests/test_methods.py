"""The method catalogue (l2l/methods.py) and the model registry name the same methods; everything that
lists methods derives from the catalogue."""

import pytest

from l2l import config
from l2l.errors import UserError
from l2l.methods import (MASK_STRATEGIES, icmlm_methods, method_label, method_names, method_order, method_spec,
                         two_stage_methods, wildcard_pattern)
from l2l.schema import config_schema


def test_model_registry_builds_exactly_the_catalogued_methods():
    from l2l.models import list_methods

    assert sorted(list_methods()) == sorted(method_names())


def test_config_schema_and_wildcards_derive_from_the_catalogue():
    assert config.METHODS == method_names() and config.TWO_STAGE_METHODS == two_stage_methods()
    props = config_schema()["properties"]
    assert props["methods"]["items"]["enum"] == list(method_names())
    assert props["tables"]["additionalProperties"]["properties"]["methods"]["items"]["enum"] == list(method_names())
    assert wildcard_pattern().split("|") == list(method_names())
    assert props["model"]["properties"]["mask_strategy"]["enum"] == list(MASK_STRATEGIES)


def test_labels_orders_and_two_stage_edges():
    assert method_names()[:3] == ("fc_head", "aqn", "label2label")
    assert [method_label(m) for m in method_names()[:3]] == ["FC Head", "AQN", "Label2Label"]
    assert method_order("fc_head") < method_order("aqn") < method_order("label2label") < method_order("unknown")
    assert method_label("unknown") == "unknown"
    assert two_stage_methods() == ("mlm_mlp", "mlm_encoder", "icmlm_2stage")
    assert {method_spec(m).stage_one for m in two_stage_methods()} == {"aqn"}
    assert set(icmlm_methods()) == {"label2label", "icmlm_2stage"}
    with pytest.raises(UserError, match="unknown method 'mlp'; choose one of fc_head"):
        method_spec("mlp")


def test_refiner_only_keys_are_model_keys():
    """A two-stage method's refiner-only keys are keys of the model config (the variant drops them)."""
    from dataclasses import fields

    from l2l.config import ModelConfig

    names = {f"model.{f.name}" for f in fields(ModelConfig)}
    for m in method_names():
        assert set(method_spec(m).mlm_keys) <= names, m
