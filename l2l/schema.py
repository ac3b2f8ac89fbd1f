"""One validator for every config: Snakemake's experiment config and the run config of `l2l train`.

Both are checked against the config schema shipped in the package, ``l2l/defaults/config.schema.yaml``
(:mod:`l2l.packaged`; the workflow's ``workflow/schemas/config.schema.yaml`` is a copy of it), the run
config against its ``model`` / ``train`` / ``data`` sections, so a value the pipeline refuses is refused by hand too,
with the same one-line message naming the key. The method enums are filled in from the method
catalogue (:mod:`l2l.methods`), not written in the schema. Torch-free.

Before validating, a config is
* measured: YAML anchors can expand a few hundred bytes into billions of values (a "billion laughs"
  file); such a config is refused before anything walks or prints it;
* coerced where the schema is unambiguous: ``snakemake --config seeds='[0,1]'`` hands over strings
  (``'0'``), ``--set train.lr=1e30`` a string too (YAML 1.1 reads ``1e30`` as text); a string that
  parses as the number/boolean/null the schema asks for becomes that value.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping
from typing import Any

from l2l import packaged
from l2l.errors import UserError
from l2l.methods import icmlm_methods, method_names
from l2l.protocols import DEFAULT_PROTOCOL, protocol_names

SCHEMA = "config.schema.yaml"  # in l2l/defaults/ (package data)
MAX_VALUES = 200_000  # a paper config has a few thousand values; anchors beyond this are refused
RUN_SECTIONS = ("model", "train", "data")


@functools.lru_cache(maxsize=1)
def _schema_file() -> dict[str, Any]:
    return packaged.load_yaml(SCHEMA)


def section_properties(section: str) -> dict[str, Any]:
    """The schema of every key of a run-config section (``model``, ...): type, range, default, description."""
    return copy.deepcopy(_schema_file()["properties"][section]["properties"])


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    schema = copy.deepcopy(_schema_file())
    props = schema["properties"]
    props["methods"]["items"]["enum"] = list(method_names())
    props["tables"]["additionalProperties"]["properties"]["methods"]["items"]["enum"] = list(method_names())
    suite = props["table_suites"]["additionalProperties"]["properties"]
    suite["attention"]["properties"]["method"]["enum"] = list(icmlm_methods())
    _fill_protocols(schema)
    return schema


def _fill_protocols(schema: dict[str, Any]) -> None:
    """The protocol enums and each recipe's per-protocol blocks, from the protocol catalogue."""
    props, names = schema["properties"], list(protocol_names())
    props["protocol"]["enum"] = [*names, None]
    props["table_suites"]["additionalProperties"]["properties"]["protocol"]["enum"] = names
    block = schema["$defs"]["protocol_block"]
    recipe = props["recipes"]["additionalProperties"]["properties"]
    recipe["protocols"]["properties"] = {n: copy.deepcopy(block) for n in names}


def config_schema() -> dict[str, Any]:
    """The experiment schema with the catalogue's enums (a copy: callers may change it)."""
    return copy.deepcopy(_schema())


@functools.lru_cache(maxsize=1)
def _run_schema() -> dict[str, Any]:
    props = _schema()["properties"]
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "method": {"type": "string", "enum": list(method_names()), "default": "label2label"},
            "backbone": {"type": "string", "default": "small_cnn"},
            "seed": {"type": "integer", "minimum": 0, "default": 0},
            "protocol": {"type": "string", "enum": list(protocol_names()), "default": DEFAULT_PROTOCOL,
                         "description": props["protocol"]["description"]},
            **{s: props[s] for s in RUN_SECTIONS},
            "tracking": {"type": "object", "additionalProperties": False, "properties": {
                "uri": {"type": "string"}, "experiment": {"type": "string"},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                "system_metrics": {"type": "boolean"}, "log_model": {"type": "boolean"}}},
        },
    }


def run_schema() -> dict[str, Any]:
    """Schema of one run config (RunConfig's keys): the experiment schema's model/train/data sections."""
    return copy.deepcopy(_run_schema())


def count_values(data: Any, limit: int = MAX_VALUES) -> int:
    """Values in ``data`` with every YAML alias expanded (stops counting past ``limit``)."""
    memo: dict[int, int] = {}

    def size(x: Any) -> int:
        if not isinstance(x, (dict, list, tuple)):
            return 1
        if id(x) in memo:
            return memo[id(x)]
        children = x.values() if isinstance(x, dict) else x
        total = 1
        for c in children:
            total += size(c)
            if total > limit:
                break
        memo[id(x)] = total
        return total

    return size(data)


def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def _coerce_scalar(value: str, types: list[str]) -> Any:
    import yaml

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if "number" in types and isinstance(parsed, str):
        try:
            return float(parsed)  # 1e30: YAML 1.1 reads it as text
        except ValueError:
            return value
    ok = ((parsed is None and "null" in types)
          or (isinstance(parsed, bool) and "boolean" in types)
          or (isinstance(parsed, int) and not isinstance(parsed, bool) and ("integer" in types or "number" in types))
          or (isinstance(parsed, float) and "number" in types)
          or (isinstance(parsed, list) and "array" in types))
    return parsed if ok else value


def coerce(data: Any, schema: Mapping[str, Any]) -> Any:
    """``data`` with strings turned into the number/boolean/null/list the schema asks for."""
    types = _types(schema)
    if isinstance(data, str) and "string" not in types and types:
        data = _coerce_scalar(data, types)
    elif data in ("null", "~") and "null" in types and data not in schema.get("enum", [data]):
        data = None  # --config protocol=null: a string for a key whose enum has null, not "null"
    if isinstance(data, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key, value in data.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                data[key] = coerce(value, sub)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        data[:] = [coerce(v, schema["items"]) for v in data]
    return data


def fill_defaults(data: Any, schema: Mapping[str, Any]) -> Any:
    """Set every missing key that has a schema default, recursively (as Snakemake's validate does)."""
    if not isinstance(data, dict):
        return data
    props, extra = schema.get("properties", {}), schema.get("additionalProperties")
    for key, sub in props.items():
        if "default" in sub and key not in data:
            data[key] = copy.deepcopy(sub["default"])
    for key, value in data.items():
        sub = props.get(key, extra if isinstance(extra, dict) else None)
        if sub is not None:
            fill_defaults(value, sub)
    return data


def _short(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) and width > 80 else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


_WHAT = {
    "enum": lambda e: f"must be one of {', '.join(map(str, e.validator_value))}",
    "type": lambda e: f"must be of type {' or '.join(_types(e.schema))}",
    "minimum": lambda e: f"must be >= {e.validator_value}",
    "maximum": lambda e: f"must be <= {e.validator_value}",
    "exclusiveMinimum": lambda e: f"must be > {e.validator_value}",
    "exclusiveMaximum": lambda e: f"must be < {e.validator_value}",
    "pattern": lambda e: f"must match {e.validator_value}",
    "minItems": lambda e: f"needs at least {e.validator_value} item(s)",
    "maxItems": lambda e: f"takes at most {e.validator_value} item(s)",
}


def _message(error: Any, where: str) -> str:
    """One line: the dotted key, what is wrong, and the schema's description of the key."""
    path = ".".join(str(p) for p in error.absolute_path)
    key = f"{where}{path}" if path else (where.rstrip(".") or "config")
    v = error.validator
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        valid = ", ".join(error.schema.get("properties", {}))
        return (f"unknown config key(s) {', '.join(f'{key}.{k}' if path or where else k for k in extra)}; "
                f"valid keys{' in ' + key if path or where else ''}: {valid}")
    what = _WHAT.get(v, lambda e: _short(e.message, 120))(error)
    desc = " ".join(str(error.schema.get("description", "")).split())
    return f"key {key} {what}, got {_short(error.instance)}" + (f" ({_short(desc, 140)})" if desc else "")


def _first_non_finite(data: Any, path: str = "") -> tuple[str, float] | None:
    """(dotted key, value) of the first NaN or ±inf float in ``data``, else None."""
    if isinstance(data, float):
        return None if math.isfinite(data) else (path, data)
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _first_non_finite(value, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def check(data: Any, schema: Mapping[str, Any], where: str = "", source: str = "config") -> Any:
    """Measure, coerce, fill defaults and validate ``data`` in place; a one-line UserError on the first problem."""
    import jsonschema

    n = count_values(data)
    if n > MAX_VALUES:
        raise UserError(f"{source}: expands to more than {MAX_VALUES} values (YAML anchors/aliases repeated?); "
                        f"write the config out without nested aliases")
    coerce(data, schema)
    fill_defaults(data, schema)
    bad = _first_non_finite(data)
    if bad is not None:  # NaN passes every JSON-schema bound (each comparison is false), then fails late
        key, value = bad
        raise UserError(f"{source + ': ' if source else ''}key {where}{key or 'config'} is {value}, not a finite "
                        f"number; give a finite value (no nan / inf)")
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise UserError(f"{source}: {_message(error, where)}" if source else _message(error, where))
    return data


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate Snakemake's experiment config (filled with the schema's defaults, in place)."""
    return check(config, _schema(), source=source)


def validate_run(data: dict[str, Any], source: str = "run config") -> dict[str, Any]:
    """Validate one run config (the keys of l2l.config.RunConfig), in place."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a run config must be a mapping of keys (method, model, train, ...)")
    return check(data, _run_schema(), source=source)
