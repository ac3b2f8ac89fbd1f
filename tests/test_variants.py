import pytest

from l2l.errors import UserError
from l2l.plan.variants import nested, parse_variant, stage_one_variant, variant_name

BASE = {"model": {"aqn_layers": 1, "mlm_layers": 2, "mask_ratio": 0.1, "mlm_weight": 1.0}, "train": {"epochs": 5}}


@pytest.mark.parametrize("overrides, name", [
    ({}, "base"),
    ({"mlm_layers": 3}, "mlm_layers=3"),
    ({"model.mask_ratio": 0}, "mask_ratio=0.0"),
    ({"mask_ratio": 0.2, "aqn_layers": 2}, "aqn_layers=2,mask_ratio=0.2"),
    ({"mask_strategy": "zero"}, "mask_strategy=zero"),
    ({"train.lr": 0.01}, "train.lr=0.01"),
    ({"data.image_size": [64, 48]}, "data.image_size=64x48"),
])
def test_round_trip(overrides, name):
    assert variant_name(overrides, BASE) == name
    parsed = parse_variant(name)
    assert variant_name(parsed, BASE) == name
    assert variant_name({k.split(".", 1)[-1] if k.startswith("model.") else k: v for k, v in parsed.items()},
                        BASE) == name


def test_values_equal_to_the_base_map_to_base():
    # Table 4's lambda = 1, Table 1's D = 2 and Table 3's alpha = 0.1 are the default run
    assert variant_name({"mlm_weight": 1}, BASE) == "base"
    assert variant_name({"mlm_layers": 2}, BASE) == "base"
    assert variant_name({"mask_ratio": 0.1}, BASE) == "base"
    assert variant_name({"train.epochs": 5}, BASE) == "base"
    assert variant_name({"train.epochs": 5}, {}) == "train.epochs=5"  # default RunConfig has 10


def test_parse_types_and_nesting():
    assert parse_variant("mask_ratio=0.0,mlm_layers=3") == {"model.mask_ratio": 0.0, "model.mlm_layers": 3}
    assert nested(parse_variant("mlm_layers=3,train.lr=0.01")) == {"model": {"mlm_layers": 3},
                                                                   "train": {"lr": 0.01}}


def test_stage_one_variant_drops_mlm_only_keys():
    assert stage_one_variant("mask_ratio=0.2,mlm_layers=3", BASE) == "base"
    assert stage_one_variant("aqn_layers=2,mlm_layers=3", BASE) == "aqn_layers=2"


@pytest.mark.parametrize("bad", ["bogus=1", "model.nope=2", "mlm_layers"])
def test_bad_variant_names(bad):
    with pytest.raises(UserError):
        parse_variant(bad)
