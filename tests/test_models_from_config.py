"""Components are built from the config: a model key is declared in the schema and read by one constructor.

* the defaults of the model keys are written once, in the schema (ModelConfig is made from it; no
  function in l2l/ or benchmarks/ gives a model key a default of its own);
* ``create_model`` refuses an override that is not a model key (nothing is swallowed);
* a new key needs only its schema entry and the constructor that reads it (a toy head, in a copy of
  the package, shows it end to end: default, override, validation, the built head).
"""

import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from l2l.config import ModelConfig, RunConfig
from l2l.schema import section_properties

from helpers import REPO

MODEL_KEYS = {f.name for f in dataclasses.fields(ModelConfig)}


def test_model_config_is_the_schemas_model_section():
    props = section_properties("model")
    assert list(props) == [f.name for f in dataclasses.fields(ModelConfig)]
    assert {k: spec["default"] for k, spec in props.items()} == dataclasses.asdict(ModelConfig())
    assert RunConfig().model == ModelConfig()


def _defaults_of_model_keys(path: Path) -> list[str]:
    """``name=default`` of every function parameter named like a model key, in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = node.args
        positional = a.posonlyargs + a.args
        with_default = positional[len(positional) - len(a.defaults):] + \
            [arg for arg, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        found += [f"{path.relative_to(REPO)}:{node.lineno} {node.name}({arg.arg}=...)"
                  for arg in with_default if arg.arg in MODEL_KEYS]
    return found


def test_no_function_gives_a_model_key_its_own_default():
    files = sorted([*(REPO / "l2l").rglob("*.py"), *(REPO / "benchmarks").rglob("*.py")])
    found = [hit for f in files for hit in _defaults_of_model_keys(f)]
    assert not found, "model-key defaults live in the config schema only: " + "; ".join(found)


def test_create_model_refuses_a_key_that_is_not_a_model_key():
    from l2l.models import create_model

    with pytest.raises(TypeError, match="ffn_dm"):
        create_model("aqn", "small_cnn", 4, ffn_dm=32)
    model = create_model("aqn", "small_cnn", 4, ModelConfig(ffn_dim=16), num_heads=2)
    layer = model.head.aqn.decoder.layers[0]
    assert layer.ffn[0].out_features == 16 and layer.self_attn.num_heads == 2


TOY = r'''
import json
from l2l.methods import MethodSpec, declare

declare(MethodSpec("toy", "Toy head", 99))

from l2l.config import resolve
from l2l.engine import build_model
from l2l.errors import UserError
from l2l.models import register_method
from l2l.models.fc_head import FCHead


class ToyHead(FCHead):
    """The FC head with a gain: the one constructor that reads the new key."""

    def __init__(self, dim, num_attributes, cfg):
        super().__init__(dim, num_attributes, cfg)
        self.gain = cfg.toy_gain


register_method("toy", ToyHead)
out = {"default": resolve({"method": "toy"}).model.toy_gain,
       "built": build_model(resolve({"method": "toy", "model": {"toy_gain": 3.0}}), 4).head.gain,
       "param": resolve({"method": "toy"}).flat_params()["model.toy_gain"]}
try:
    resolve({"method": "toy", "model": {"toy_gain": -1}})
except UserError as e:
    out["error"] = str(e)
print(json.dumps(out))
'''

TOY_KEY = ('      toy_gain: {type: number, minimum: 0, default: 2.5, '
           'description: "A toy head\'s gain (tests/test_models_from_config.py)."}\n')


def test_a_new_model_key_needs_only_its_schema_entry_and_its_constructor(tmp_path):
    shutil.copytree(REPO / "l2l", tmp_path / "l2l", ignore=shutil.ignore_patterns("__pycache__"))
    schema = tmp_path / "l2l/defaults/config.schema.yaml"  # the package's copy of the schema
    lines = schema.read_text().splitlines(keepends=True)
    at = lines.index("  model:\n")
    at = next(i for i in range(at, len(lines)) if lines[i].strip() == "properties:") + 1
    schema.write_text("".join(lines[:at] + [TOY_KEY] + lines[at:]))  # the schema entry
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", TOY], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["default"] == 2.5 and out["built"] == 3.0 and out["param"] == "2.5"
    assert "key model.toy_gain must be >= 0, got -1" in out["error"]
