"""The method catalogue: every method the pipeline trains, declared once (torch-free).

A method is a head on the shared backbone. Its *metadata* (table label, table order, whether it
refines a trained stage-one run, which config keys only its IC-MLM reads) lives here, so the config
schema, Snakemake's wildcard constraints, the planning layer and the tables derive from one list
without importing torch. Its *model* (which needs torch) is registered under the same name in
``l2l/models/registry.py`` (``register_method(name, head_factory)``); ``tests/test_methods.py`` checks
that the two registries name the same methods.

Adding a method: a head file under ``l2l/models/`` with its head factory registered, one
``declare(MethodSpec(...))`` line below, and a test.
"""

from __future__ import annotations

from dataclasses import dataclass

from l2l.errors import UserError

# [mask] embedding strategies of the IC-MLM (Table 6): one per attribute, one shared, a fixed zero vector
MASK_STRATEGIES = ("attribute_specific", "attribute_agnostic", "zero")

# keys read only by an IC-MLM (or a two-stage refiner): the AQN run a two-stage method refines is the
# refiner's variant without them
MLM_KEYS = ("model.mlm_layers", "model.mask_ratio", "model.mask_strategy", "model.mlm_weight")


@dataclass(frozen=True)
class MethodSpec:
    """What the pipeline knows about a method besides its model."""

    name: str  # config and run-folder name
    label: str  # row label in the tables
    order: int  # row order in the tables (smaller first)
    stage_one: str | None = None  # two-stage (Table 7): the method whose trained run it refines (frozen)
    mlm_keys: tuple[str, ...] = ()  # keys only its IC-MLM / refiner reads (dropped from its stage-one variant)
    has_icmlm: bool = False  # has IC-MLM self-attention to draw (l2l attention)

    @property
    def two_stage(self) -> bool:
        return self.stage_one is not None


_SPECS: dict[str, MethodSpec] = {}


def declare(spec: MethodSpec) -> MethodSpec:
    """Add a method to the catalogue (names are unique)."""
    if spec.name in _SPECS:
        raise ValueError(f"method '{spec.name}' is declared twice")
    _SPECS[spec.name] = spec
    return spec


declare(MethodSpec("fc_head", "FC Head", 0))
declare(MethodSpec("aqn", "AQN", 1))
declare(MethodSpec("label2label", "Label2Label", 2, mlm_keys=MLM_KEYS, has_icmlm=True))
declare(MethodSpec("mlm_mlp", "MLM (MLP, two-stage)", 3, stage_one="aqn", mlm_keys=MLM_KEYS))
declare(MethodSpec("mlm_encoder", "MLM (TransEncoder, two-stage)", 4, stage_one="aqn", mlm_keys=MLM_KEYS))
declare(MethodSpec("icmlm_2stage", "IC-MLM (TransDecoder, two-stage)", 5, stage_one="aqn", mlm_keys=MLM_KEYS,
                   has_icmlm=True))


def method_names() -> tuple[str, ...]:
    """Every method, in table order."""
    return tuple(s.name for s in sorted(_SPECS.values(), key=lambda s: s.order))


def two_stage_methods() -> tuple[str, ...]:
    return tuple(n for n in method_names() if _SPECS[n].two_stage)


def icmlm_methods() -> tuple[str, ...]:
    return tuple(n for n in method_names() if _SPECS[n].has_icmlm)


def method_spec(name: str) -> MethodSpec:
    """The spec of ``name``; a UserError listing the methods otherwise."""
    if name not in _SPECS:
        raise UserError(f"unknown method '{name}'; choose one of {', '.join(method_names())}")
    return _SPECS[name]


def method_label(name: str) -> str:
    """Table label of a method (the name itself for one not in the catalogue)."""
    return _SPECS[name].label if name in _SPECS else name


def method_order(name: str) -> int:
    """Table row order of a method (after every catalogued method for an unknown one)."""
    return _SPECS[name].order if name in _SPECS else len(_SPECS) + 99


def wildcard_pattern() -> str:
    """Regex alternation of the method names (Snakemake's ``method`` wildcard)."""
    return "|".join(method_names())
