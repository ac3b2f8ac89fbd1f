"""The experiment config as Snakemake sees it, for use without Snakemake (`l2l resolve`, tests).

Snakemake reads the ``configfile:`` files of the Snakefile in order, then ``--configfile`` files and
``--config`` values on top (dicts merged key by key); :func:`load_experiment` does the same, then
validates with the one schema (:mod:`l2l.schema`). The ``configfile:`` files are a workflow folder's
``config/*.yaml`` when one is given, else the copies shipped in the package (:mod:`l2l.packaged`,
equal to a checkout's).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from l2l import packaged
from l2l.errors import UserError
from l2l.io import read_mapping
from l2l.plan.runs import merge
from l2l.schema import validate_config

# the Snakefile's `configfile:` directives, in order (tests/test_plan.py keeps the two in step)
CONFIG_FILES = ("config/config.yaml", "config/paper_datasets.yaml", "config/tables.yaml", "config/field.yaml")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings as Snakemake's ``--config`` reads them (values left as text; the schema coerces)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--config '{item}' is not key=value (e.g. protocol=official)")
        out[key] = value
    return out


def check_experiment(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate the experiment config in place (schema, defaults filled) and its cross-field rules."""
    validate_config(config, source)
    if config["dataset"] not in config["datasets"]:
        raise UserError(f"{source}: dataset '{config['dataset']}' is not a key of datasets "
                        f"({', '.join(config['datasets'])}); add it there or pick one of those")
    suites = config.get("table_suites") or {}
    experiments = [s.get("experiment") or name for name, s in suites.items()]
    twice = sorted({e for e in experiments if experiments.count(e) > 1})
    if twice:
        raise UserError(f"{source}: table_suites share the experiment(s) {', '.join(twice)}; give each suite its "
                        f"own table_suites.<suite>.experiment (it names the suite's results folder)")
    return config


def load_experiment(configfiles: Sequence[str | Path] = (), overrides: Sequence[str] = (),
                    root: str | Path | None = None) -> dict[str, Any]:
    """The validated experiment config: the Snakefile's config files <- ``configfiles`` <- ``overrides``,
    then the user layer's rules and the rehearsal (:func:`l2l.plan.invocation.finish_config`).

    ``root``: a workflow folder whose ``config/`` files are read; None reads the copies l2l ships."""
    from l2l.plan.invocation import finish_config

    config: dict[str, Any] = {}
    for f in CONFIG_FILES:
        config = merge(config, _config_file(root, f))
    user: dict[str, Any] = {}
    for f in configfiles:
        user = merge(user, read_mapping(f))
    user = merge(user, parse_overrides(overrides))
    config = check_experiment(merge(config, user))
    return check_experiment(finish_config(config, user, demo_dataset(root)))


def _config_file(root: str | Path | None, name: str) -> dict[str, Any]:
    """One of the Snakefile's config files: the workflow folder's, or the packaged copy when ``root`` is None."""
    return packaged.load_yaml(Path(name).name) if root is None else read_mapping(Path(root) / name)


def workflow_root(explicit: str | Path | None = None) -> str | Path | None:
    """The folder whose config/ a command reads: ``explicit``, else the working directory when it is a
    workflow checkout (as Snakemake run there reads it), else None (the copies l2l ships)."""
    if explicit is None and Path("config/config.yaml").is_file():
        return "."
    return explicit


def add_experiment_options(parser, what: str = "") -> None:
    """``--configfile``, ``--config`` and ``--workflow-dir``: the experiment config a command reads, as Snakemake
    run in that folder reads it (``l2l resolve``, ``preflight``, ``weights``)."""
    parser.add_argument("--configfile", action="append", help=f"{what}extra config file, as snakemake --configfile")
    parser.add_argument("--config", nargs="+", metavar="KEY=VALUE", help=f"{what}overrides, as snakemake --config")
    parser.add_argument("--workflow-dir", metavar="DIR", help="read DIR/config/*.yaml as the Snakefile does (default: "
                                                             "the current folder if it has config/config.yaml, else "
                                                             "the defaults shipped with l2l)")


def experiment_from_args(args) -> dict[str, Any]:
    """The validated experiment config of :func:`add_experiment_options`' options."""
    return load_experiment(args.configfile or [], args.config or [], workflow_root(args.workflow_dir))


def demo_dataset(root: str | Path | None = None) -> str | None:
    """The ``dataset`` config/config.yaml names: its experiment is the demo's (l2l.plan.invocation)."""
    return _config_file(root, CONFIG_FILES[0]).get("dataset")
