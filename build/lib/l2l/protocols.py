"""The protocol catalogue: every evaluation protocol a run can follow, declared once (torch-free).

A protocol is part of a run's identity (the run folder's ``<protocol>`` level, the fingerprint, the
MLflow tags). The config schema's enums, Snakemake's ``protocol`` wildcard constraint, ``l2l
resolve --protocol``, the planning layer's default and the tables' header line derive from the
declarations below, as the method catalogue (:mod:`l2l.methods`) does for methods;
``tests/test_protocols.py`` checks that each derived copy equals this list.
"""

from __future__ import annotations

from dataclasses import dataclass

from l2l.errors import UserError


@dataclass(frozen=True)
class ProtocolSpec:
    name: str  # config, wildcard and run-folder name
    description: str  # what a run under it does (the schema's description lists these)
    may_use_test: bool  # may select an epoch or step a schedule on the test split (the run is tagged leaky)


_SPECS: dict[str, ProtocolSpec] = {}


def declare(spec: ProtocolSpec) -> ProtocolSpec:
    """Add a protocol to the catalogue (names are unique)."""
    if spec.name in _SPECS:
        raise ValueError(f"protocol '{spec.name}' is declared twice")
    _SPECS[spec.name] = spec
    return spec


declare(ProtocolSpec("official", "mirrors the authors' released code, leaky test-split selection included", True))
declare(ProtocolSpec("clean", "selection and scheduling never look at the test split", False))

# of a run config that names none, of the default grid (`snakemake all`) and of a suite that names none
DEFAULT_PROTOCOL = "clean"


def protocol_names() -> tuple[str, ...]:
    """Every protocol, in declaration order."""
    return tuple(_SPECS)


def protocol_spec(name: str) -> ProtocolSpec:
    """The spec of ``name``; a UserError listing the protocols otherwise."""
    if name not in _SPECS:
        raise UserError(f"protocol '{name}' is not one of {', '.join(protocol_names())}")
    return _SPECS[name]


def wildcard_pattern() -> str:
    """Regex alternation of the protocol names (Snakemake's ``protocol`` wildcard)."""
    return "|".join(protocol_names())


def describe() -> str:
    """One line per protocol: ``name (description)``, for the schema and ``--help``."""
    return ", ".join(f"{s.name} ({s.description})" for s in _SPECS.values())
