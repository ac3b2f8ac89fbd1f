import dataclasses
import json

import pytest
import yaml

from l2l.config import DataConfig, ModelConfig, RunConfig, TrainConfig, resolve, with_overrides
from l2l.errors import UserError
from l2l.schema import run_schema

from helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def _defaults(cls):
    return {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("section, cls", [("model", ModelConfig), ("train", TrainConfig), ("data", DataConfig)])
def test_schema_defaults_match_run_config(section, cls):
    """Every RunConfig key is in the schema with the dataclass's default, and nothing else is."""
    props = SCHEMA["properties"][section]["properties"]
    defaults = _defaults(cls)
    assert set(props) == set(defaults), f"{section}: schema and {cls.__name__} differ"
    for key, spec in props.items():
        assert spec["default"] == defaults[key], f"{section}.{key}"
    run = run_schema()["properties"]
    assert run["protocol"]["default"] == RunConfig().protocol
    assert set(run) == {f.name for f in dataclasses.fields(RunConfig)}


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
    ({"method": "mlp"}, "key method must be one of fc_head, aqn, label2label"),
    ({"model": {"mask_ratio": 1.5}}, r"key model.mask_ratio must be <= 1, got 1.5 \(alpha"),
    ({"model": {"mask_strategy": "random"}}, "key model.mask_strategy must be one of attribute_specific"),
    ({"model": {"layers": 2}}, "unknown config key.*model.layers"),
    ({"protocol": "leaky"}, "key protocol must be one of official, clean"),
    ({"train": {"selection": "best_test"}}, "protocol clean never selects"),
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
    ("train.lr=abc", r"key train.lr must be of type number, got 'abc'"),
    ("train.lr=-1", r"key train.lr must be > 0, got -1"),
    ("train.epochs=2.5", r"key train.epochs must be of type integer, got 2.5"),
    ("seed=true", r"key seed must be of type integer, got True"),
    ("model.pretrained=1", r"key model.pretrained must be of type boolean, got 1"),
    ("train.grad_clip=big", r"key train.grad_clip must be of type number or null, got 'big'"),
])
def test_wrong_types_are_a_clear_error(override, message):
    with pytest.raises(UserError, match=message):
        with_overrides(RunConfig(), [override])


def test_exponent_without_dot_is_a_number():
    """YAML 1.1 reads 1e30 as a string; a float key takes it as the number the user meant."""
    cfg = with_overrides(RunConfig(), ["train.lr=1e-4", "train.head_lr=null"])
    assert cfg.train.lr == 1e-4 and cfg.train.head_lr is None


def test_official_protocol_allows_test_selection():
    cfg = resolve({"protocol": "official", "train": {"selection": "best_test"}})
    assert cfg.protocol == "official" and cfg.train.selection == "best_test"


def test_l2l_train_refuses_a_bad_value_in_one_line_naming_the_key(tmp_path, capsys):
    from l2l.cli import main

    assert main(["train", "--out", str(tmp_path / "r"), "--set", "train.lr=-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.lr must be > 0" in err
    assert not (tmp_path / "r").exists()


def test_l2l_resolve_prints_the_planned_run_config(capsys):
    from l2l.cli import main

    assert main(["resolve", "--dataset", "lfwa", "--backbone", "resnet50", "--method", "icmlm_2stage",
                 "--variant", "mlm_layers=3", "--protocol", "official", "--config", "seeds=[0]"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["protocol"] == "official" and cfg["model"]["mlm_layers"] == 3 and cfg["train"]["epochs"] == 60
    assert cfg["model"]["init_from"] == "results/embedded_demo/runs/lfwa/resnet50/aqn/base/official/seed0/model.pt"
    assert cfg["data"]["path"] == "results/datasets/lfwa" and cfg["model"]["mask_ratio"] == 0.1


def test_run_configs_written_before_the_metric_list_still_resolve():
    """train.selection_per_metric was a boolean until issue 22: an old run folder's config.yaml (predict,
    reproduce) resolves as it did, true = every metric, false = none."""
    every = ["error", "mA", "accuracy", "precision", "recall", "f1"]
    assert resolve({"train": {"selection_per_metric": True}}).train.selection_per_metric == every
    assert resolve({"train": {"selection_per_metric": False}}).train.selection_per_metric == []
    assert resolve({"train": {"selection_per_metric": ["f1", "mA"]}}).train.selection_per_metric == ["f1", "mA"]
    with pytest.raises(UserError, match="train.selection_per_metric"):
        resolve({"train": {"selection_per_metric": ["mA", "mA"]}})
