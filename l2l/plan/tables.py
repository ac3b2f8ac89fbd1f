"""Table planning: the runs each paper table needs, per suite and protocol (torch-free).

A table is declared once in ``config/tables.yaml``; a *suite* maps it onto data (``paper`` as declared,
``ablations`` onto the embedded demo). :func:`plan_table` turns a table into *cells* (one per row),
each with the canonical run folders of its seeds; cells of different tables that share parameters
share folders, so Snakemake trains them once. :class:`TablePlanner` adds the suite-level questions
the workflow asks (which tables, which MACs files, which run's attention).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from l2l.errors import UserError
from l2l.plan.runs import Planner, Run
from l2l.plan.variants import variant_name
from l2l.protocols import DEFAULT_PROTOCOL

DEFAULT_COMPARE = (("label2label", "aqn"), ("aqn", "fc_head"))


def suite_map(suite: Mapping[str, Any], kind: str, name: str) -> str | None:
    """Dataset/backbone of the suite for the paper's ``name`` (None: the suite drops it)."""
    mapping = suite.get(kind, {}) or {}
    return mapping[name] if name in mapping else name


def plan_table(name: str, spec: Mapping[str, Any], suite: Mapping[str, Any], seeds: Sequence[int],
               base_config: Callable[[str], Mapping[str, Any]], run_dir: Callable[..., str],
               protocol: str = DEFAULT_PROTOCOL, experiment: str = "", forced: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Cells (display rows and the reference runs of the comparisons) with their run folders.

    ``base_config(dataset)`` gives the dataset's run config under ``protocol`` (shared settings +
    recipe + its protocol block) against which variant names are made canonical;
    ``run_dir(dataset=, backbone=, method=, variant=, protocol=, seed=, experiment=)`` formats a run folder;
    ``forced`` (flat overrides, e.g. ``{'train.epochs': 1}``) goes into every cell's variant."""
    paper_dataset = spec["dataset"]
    dataset = suite_map(suite, "datasets", paper_dataset)
    base = base_config(dataset)
    param = spec.get("param") or None
    if param is not None and (set(param) - {"key", "label", "values"} or not param.get("values") or "key" not in param):
        raise UserError(f"tables.{name}.param must be {{key, values[, label]}} with at least one value, got {param}")
    cells: list[dict[str, Any]] = []
    references: dict[str, str] = {}

    def add(method: str, paper_backbone: str, value: Any, show: bool) -> None:
        backbone = suite_map(suite, "backbones", paper_backbone)
        if backbone is None:
            return
        overrides = {**(forced or {}), **(spec.get("backbone_overrides") or {}).get(paper_backbone, {})}
        if param and value is not None:
            overrides[param["key"]] = value
        variant = variant_name(overrides, base)
        key = (method, backbone, variant)
        for c in cells:
            if (c["method"], c["backbone"], c["variant"]) == key:
                c["show"] = c["show"] or show
                return
        cells.append({"method": method, "backbone": backbone, "paper_backbone": paper_backbone,
                      "dataset": dataset, "value": value, "variant": variant, "show": show,
                      "protocol": protocol,
                      "runs": [run_dir(dataset=dataset, backbone=backbone, method=method, variant=variant,
                                       protocol=protocol, seed=s, experiment=experiment) for s in seeds]})

    for backbone in spec["backbones"]:
        for method in spec["methods"]:
            for value in (param["values"] if param else [None]):
                add(method, backbone, value, True)
        for a, b in spec.get("compare", DEFAULT_COMPARE):
            add(a, backbone, None, False)
            add(b, backbone, None, False)
        mapped = suite_map(suite, "backbones", backbone)
        if mapped is not None:  # the variant of this backbone's default runs (the comparisons' pairs)
            references[mapped] = variant_name({**(forced or {}), **(spec.get("backbone_overrides") or {}).get(backbone, {})},
                                              base)
    return {"table": name, "title": spec.get("title") or name, "suite": suite.get("name", ""), "protocol": protocol,
            "experiment": experiment,
            "paper_dataset": paper_dataset, "dataset": dataset, "param": param,
            "metrics": list(spec.get("metrics", ["error"])), "macs": bool(spec.get("macs", False)),
            "compare": [list(p) for p in spec.get("compare", DEFAULT_COMPARE)], "cells": cells, "seeds": list(seeds),
            "reference_variants": references}


def plan_runs(plan: Mapping[str, Any]) -> list[str]:
    return [r for c in plan["cells"] for r in c["runs"]]


class TablePlanner:
    """The paper tables of an experiment config (config/tables.yaml), on top of a :class:`Planner`."""

    def __init__(self, planner: Planner) -> None:
        self.planner, self.config = planner, planner.config

    def suite(self, suite: str) -> dict[str, Any]:
        if suite not in self.config["table_suites"]:
            raise UserError(f"config: unknown table suite '{suite}'; table_suites has "
                            f"{', '.join(self.config['table_suites'])}")
        return {**self.config["table_suites"][suite], "name": suite}

    def experiment(self, suite: str) -> str:
        """Results folder and MLflow experiment of a suite: ``table_suites.<suite>.experiment``, else its name."""
        return self.suite(suite).get("experiment") or suite

    def suite_of(self, experiment: str) -> str:
        """The suite whose experiment this is (suites have distinct experiments: checked with the config)."""
        for suite in self.config["table_suites"]:
            if self.experiment(suite) == experiment:
                return suite
        raise UserError(f"no table suite has experiment '{experiment}'")

    def experiments(self) -> list[str]:
        return [self.experiment(s) for s in self.config["table_suites"]]

    def plan(self, suite: str, table: str) -> dict[str, Any]:
        """Cells and run folders of one table in one suite, under the suite's protocol."""
        s, spec = self.suite(suite), self.config["tables"][table]
        dataset = suite_map(s, "datasets", spec["dataset"])
        if dataset not in self.config["datasets"]:
            raise UserError(
                f"{table} ({suite}) needs dataset '{dataset}', which is not a key of datasets; add it "
                f"(the paper datasets come from config/paper_datasets.yaml) or map it in table_suites.{suite}.datasets")
        protocol = self.planner.protocol(suite)
        experiment = self.experiment(suite)
        plan = plan_table(table, spec, s, s["seeds"], lambda d: self.planner.base_run_config(d, protocol),
                          self.planner.run_dir, protocol, experiment, self.planner.forced())
        for cell in plan["cells"]:  # refuse a bad recipe or a leaky clean run now, not in a job
            self.planner.run_config(Run(cell["dataset"], cell["backbone"], cell["method"], cell["variant"],
                                        protocol, plan["seeds"][0], experiment))
        plan["bootstrap"] = dict(self.config.get("bootstrap") or {})  # the cells' 95 % intervals (docs/zoo.md)
        return plan

    def runs(self, suite: str, table: str) -> list[str]:
        """Run folders of every cell and seed of a table."""
        return plan_runs(self.plan(suite, table))

    def tables(self, suite: str) -> list[str]:
        """Tables the suite builds: its ``tables`` list (else every table no suite lists), those with at
        least one backbone the suite keeps."""
        s = self.suite(suite)
        listed = s.get("tables")
        if listed is not None:
            unknown = [t for t in listed if t not in self.config["tables"]]
            if unknown:
                raise UserError(f"config: table_suites.{suite}.tables names {', '.join(unknown)}, not key(s) of tables")
            names = list(listed)
        else:
            claimed = {t for other in self.config["table_suites"].values() for t in (other.get("tables") or [])}
            names = [t for t in self.config["tables"] if t not in claimed]
        return [t for t in names if any(suite_map(s, "backbones", b) is not None
                                        for b in self.config["tables"][t]["backbones"])]

    def suite_of_table(self, table: str) -> str:
        """The suite a table target (``snakemake table5``, ``snakemake field_peta``) builds in: the suite that
        lists it, else paper."""
        for suite, s in self.config["table_suites"].items():
            if table in (s.get("tables") or []):
                return suite
        return "paper"

    def macs_runs(self, suite: str, table: str) -> list[Run]:
        """The (seed-0) runs whose MACs a table shows (none unless the table has macs: true)."""
        plan = self.plan(suite, table)
        if not plan["macs"]:
            return []
        return [Run(c["dataset"], c["backbone"], c["method"], c["variant"], plan["protocol"], 0, plan["experiment"])
                for c in plan["cells"] if c["show"]]

    def attention_maps(self, suite: str) -> list[dict[str, Any]]:
        """The attention maps a suite draws: split, sample, layer and head of each PNG."""
        a = self.suite(suite).get("attention")
        if not a:
            return []
        return [{"split": "test", "sample": s, "layer": a["layer"], "head": a["head"]} for s in a["samples"]]

    def attention_run(self, suite: str) -> Run | None:
        """The run whose IC-MLM attention the suite draws (table_suites.<suite>.attention)."""
        s = self.suite(suite)
        a = s.get("attention")
        if not a:
            return None
        dataset, protocol = suite_map(s, "datasets", a["dataset"]), self.planner.protocol(suite)
        return Run(dataset, suite_map(s, "backbones", a["backbone"]), a["method"], self.planner.variant(dataset, protocol),
                   protocol, int(a["seed"]), self.experiment(suite))
