"""Every train run of a target (a suite, a table, the default grid), with the tables it serves.

The preflight, the weights fetch and the GPU-hours projection ask the same question Snakemake's DAG
answers: which runs will this target train? Torch-free, on the same Planner / TablePlanner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from l2l.errors import UserError
from l2l.plan.runs import RUN_PATH, Planner, Run
from l2l.plan.tables import TablePlanner


def planners(config: Mapping[str, Any]) -> tuple[Planner, TablePlanner]:
    """Planner and TablePlanner with the workflow's folder templates (as common.smk builds them)."""
    results = config["results_dir"]
    plan = Planner(config, f"{results}/{{experiment}}/runs/{RUN_PATH}".format,
                   f"{results}/datasets/{{dataset}}".format)
    return plan, TablePlanner(plan)


def _with_stage_one(plan: Planner, runs: list[Run]) -> list[Run]:
    out: dict[Run, None] = {}
    for run in runs:
        first = plan.stage_one(run)
        if first is not None:
            out.update(dict.fromkeys(_with_stage_one(plan, [first])))
        out[run] = None
    return list(out)


def target_runs(config: Mapping[str, Any], target: str, shared_once: bool = True) -> dict[str, list[Run]]:
    """The runs of ``target`` per table (``all``: the default grid, under the key "grid").

    ``target`` is a suite (paper, ablations), a table of the paper suite (table5), or ``all``. A run
    shared by two tables is listed under the first (``shared_once``; else under each); stage-one runs of
    two-stage methods are included."""
    plan, tables = planners(config)
    if target == "all":
        return {"grid": _with_stage_one(plan, plan.grid())}
    if target in config.get("table_suites", {}):
        suite, names = target, tables.tables(target)
    elif target in config.get("tables", {}):
        suite, names = tables.suite_of_table(target), [target]
    else:
        raise UserError(f"unknown target '{target}'; choose all, a suite ({', '.join(config.get('table_suites', {}))}) "
                        f"or a table ({', '.join(config.get('tables', {}))})")
    seen: set[Run] = set()
    out: dict[str, list[Run]] = {}
    for name in names:
        p = tables.plan(suite, name)
        if not p["cells"]:
            continue
        runs = [Run(c["dataset"], c["backbone"], c["method"], c["variant"], p["protocol"], s, p["experiment"])
                for c in p["cells"] for s in p["seeds"]]
        out[name] = [r for r in _with_stage_one(plan, runs) if not (shared_once and r in seen)]
        seen.update(out[name])
    return out


def suite_of_target(config: Mapping[str, Any], target: str) -> str | None:
    """The suite a target belongs to (a table: the suite listing it, else paper), None for ``all``."""
    if target in config.get("table_suites", {}):
        return target
    return planners(config)[1].suite_of_table(target) if target in config.get("tables", {}) else None
