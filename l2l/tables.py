"""The paper's tables: plan (which runs a table needs); building them is :mod:`l2l.report.paper`.

A table is declared once in ``config/tables.yaml``: its dataset, backbones, methods, the varied
parameter (if any), the metrics and the seeds. A *suite* maps it onto data: ``paper`` keeps it as
declared (LFWA, PA-100K, Clothing with the paper's backbones); ``ablations`` maps datasets and
backbones to the embedded demo. :func:`plan_table` turns a table into *cells* (one per row), each
with the canonical run folders of its seeds; cells of different tables that share parameters share
folders, so Snakemake trains them once. :func:`l2l.report.paper.build_table` reads the finished runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from l2l.errors import UserError
from l2l.variants import variant_name

DEFAULT_COMPARE = (("label2label", "aqn"), ("aqn", "fc_head"))


# ----------------------------------------------------------------------------------------- planning

def suite_map(suite: Mapping[str, Any], kind: str, name: str) -> str | None:
    """Dataset/backbone of the suite for the paper's ``name`` (None: the suite drops it)."""
    mapping = suite.get(kind, {}) or {}
    return mapping[name] if name in mapping else name


def plan_table(name: str, spec: Mapping[str, Any], suite: Mapping[str, Any], seeds: Sequence[int],
               base_config: Callable[[str], Mapping[str, Any]], run_dir: Callable[..., str]) -> dict[str, Any]:
    """Cells (display rows and the reference runs of the comparisons) with their run folders.

    ``base_config(dataset)`` gives the dataset's run config (shared settings + recipe) against which
    variant names are made canonical; ``run_dir(dataset=, backbone=, method=, variant=, seed=)``
    formats a run folder."""
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
        overrides = dict((spec.get("backbone_overrides") or {}).get(paper_backbone, {}))
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
                      "runs": [run_dir(dataset=dataset, backbone=backbone, method=method, variant=variant,
                                       seed=s) for s in seeds]})

    for backbone in spec["backbones"]:
        for method in spec["methods"]:
            for value in (param["values"] if param else [None]):
                add(method, backbone, value, True)
        for a, b in spec.get("compare", DEFAULT_COMPARE):
            add(a, backbone, None, False)
            add(b, backbone, None, False)
        mapped = suite_map(suite, "backbones", backbone)
        if mapped is not None:  # the variant of this backbone's default runs (the comparisons' pairs)
            references[mapped] = variant_name(dict((spec.get("backbone_overrides") or {}).get(backbone, {})), base)
    return {"table": name, "title": spec.get("title") or name, "suite": suite.get("name", ""),
            "paper_dataset": paper_dataset, "dataset": dataset, "param": param,
            "metrics": list(spec.get("metrics", ["error"])), "macs": bool(spec.get("macs", False)),
            "compare": [list(p) for p in spec.get("compare", DEFAULT_COMPARE)], "cells": cells, "seeds": list(seeds),
            "reference_variants": references}


def plan_runs(plan: Mapping[str, Any]) -> list[str]:
    return [r for c in plan["cells"] for r in c["runs"]]
