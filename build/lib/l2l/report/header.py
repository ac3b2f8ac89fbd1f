"""The first page of the Snakemake report: what the runs behind its tables were, read from the runs.

Snakemake renders ``workflow/report/workflow.rst`` with the *options of the report command*; a page
written from them described the demo grid on a suite's report, and a report built with other options
than the run's showed another grid above the run's tables (issue 20). So the page is written here from
the run folders that the report's tables aggregate: each run's ``config.yaml`` (what it was trained
with) and ``metrics.json`` (the device it used). When the options plan runs that are not there, or runs
trained with another config, the report says so in one line instead (and `snakemake --report` refuses
before building, :meth:`ReportPage.refuse_stale`, called from the aggregating rules' input functions).

Every value goes out as reStructuredText *text*, each markup character backslash-escaped
(:func:`rst_text`): a config string (a tracking URI, a results folder, a dataset name) can never open a
directive (``.. raw::``, ``.. include::``), a role or a link (issue 23).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from l2l.config import resolve
from l2l.errors import UserError
from l2l.io import read_yaml
from l2l.plan import Planner, Run, TablePlanner

_MARKUP = re.compile(r"([^\w\s]|_)")  # _ is a word character, and ends a reference
GRID = ""  # Covered.table of the default grid's outputs (`snakemake all`)


def rst_text(value: Any) -> str:
    """``value`` as plain reStructuredText on one line: every non-word character backslash-escaped.

    Escaped characters never start markup in docutils (no role, literal, link, substitution,
    directive or standalone URI can form), and line breaks become spaces, so nothing reaches the start
    of a line where a directive could begin."""
    return _MARKUP.sub(r"\\\1", " ".join(str(value).split()))


def rst_list(values: Iterable[Any]) -> str:
    return ", ".join(rst_text(v) for v in values) or "none"


def report_mode(argv: list[str]) -> bool:
    """Whether this Snakemake invocation builds a report (``--report FILE`` or ``--report=FILE``)."""
    return any(a == "--report" or a.startswith("--report=") for a in argv)


def turn_off_raw_and_include(conf: str | os.PathLike) -> None:
    """Point docutils at ``conf`` (``raw_enabled`` and ``file_insertion_enabled`` off) for this process:
    Snakemake renders the report's reStructuredText with docutils' defaults, where both are on, so a text
    that escaped :func:`rst_text` could still embed HTML or a local file. Called in report mode only."""
    os.environ["DOCUTILSCONFIG"] = str(conf)


@dataclass(frozen=True)
class Covered:
    """What a report file shows: an experiment's default-grid outputs (table GRID) or one paper table."""

    experiment: str
    table: str


@dataclass
class SeenRun:
    run_dir: str
    config: dict[str, Any]
    device: str


class ReportPage:
    """The report's first page for a config (the report command's options) and its planners."""

    def __init__(self, config: Mapping[str, Any], planner: Planner, tables: TablePlanner) -> None:
        self.config, self.planner, self.tables = config, planner, tables
        self._problems: dict[Run, str | None] = {}  # Snakemake asks once per table job, tables share runs

    # -- what the report's files cover ----------------------------------------------------------------
    def covered(self, paths: Iterable[str | os.PathLike]) -> list[Covered]:
        """The grid outputs / paper tables the report's files belong to, from their paths."""
        results, out = Path(self.config["results_dir"]).resolve(), {}
        for p in paths:
            try:
                parts = Path(p).resolve().relative_to(results).parts
            except ValueError:
                continue
            if len(parts) == 2 and parts[0] == self.config["experiment"]:
                out[Covered(parts[0], GRID)] = None
            elif len(parts) >= 3 and parts[1] == "tables" and parts[0] in self.tables.experiments():
                suite = self.tables.suite_of(parts[0])
                names = [parts[2]] if parts[2] in self.config["tables"] else self.tables.tables(suite)
                out.update({Covered(parts[0], t): None for t in names if self.tables.plan(suite, t)})
        return list(out)

    def planned(self, c: Covered) -> list[Run]:
        """The runs the report's options say this output aggregates."""
        if c.table == GRID:
            return self.planner.grid()
        plan = self.tables.plan(self.tables.suite_of(c.experiment), c.table)
        return [Run(cell["dataset"], cell["backbone"], cell["method"], cell["variant"], plan["protocol"], s,
                    plan["experiment"]) for cell in plan["cells"] for s in plan["seeds"]]

    def run_dir(self, run: Run) -> str:
        return self.planner.run_dir(**run.fields())

    # -- do the runs on disk match the options? -------------------------------------------------------
    def _problem(self, run: Run) -> str | None:
        """Why the run folder is not the run the options plan (None: it is)."""
        folder = Path(self.run_dir(run))
        if not (folder / "metrics.json").is_file() or not (folder / "config.yaml").is_file():
            return f"{folder} has no finished run"
        try:
            seen = resolve(read_yaml(folder / "config.yaml"), source=str(folder / "config.yaml")).flat_params()
        except (UserError, OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as e:
            return f"{folder}/config.yaml is unreadable ({' '.join(str(e).split())[:120]})"
        planned = resolve(self.planner.run_config(run)).flat_params()
        diff = [f"{k}={seen.get(k)} (options: {planned.get(k)})" for k in sorted(set(seen) | set(planned))
                if seen.get(k) != planned.get(k)]
        return f"{folder} was trained with {', '.join(diff[:3])}" if diff else None

    def _cached_problem(self, run: Run) -> str | None:
        if run not in self._problems:
            self._problems[run] = self._problem(run)
        return self._problems[run]

    def _grid_table_problem(self, runs: list[Run]) -> str | None:
        """The grid's runs.csv aggregates exactly the planned runs (fewer seeds must not show more)."""
        path = Path(self.config["results_dir"]) / self.config["experiment"] / "runs.csv"
        if not path.is_file():
            return f"{path} is missing"
        import pandas as pd

        seen = {os.path.normpath(r) for r in pd.read_csv(path)["run"]}
        planned = {os.path.normpath(self.run_dir(r)) for r in runs}
        if seen != planned:
            return f"{path} aggregates {len(seen)} runs, the options plan {len(planned)} ({len(seen & planned)} shared)"
        return None

    def _grid_held(self) -> str:
        """What the grid's table shows instead (its runs.csv), e.g. runs of another dataset."""
        path = Path(self.config["results_dir"]) / self.config["experiment"] / "runs.csv"
        if not path.is_file():
            return ""
        import pandas as pd

        runs = pd.read_csv(path)
        datasets = ", ".join(sorted(map(str, runs["dataset"].unique()))) if "dataset" in runs else "unknown"
        return f"; {path} holds {len(runs)} runs of dataset {datasets}"

    def stale(self, covered: Iterable[Covered]) -> str | None:
        """One line saying how the options differ from the runs, or None when they match."""
        covered = list(covered)
        grid = any(c.table == GRID for c in covered)
        runs = list(dict.fromkeys(r for c in covered for r in self.planned(c)))  # tables share runs
        problems = [p for p in map(self._cached_problem, runs) if p]
        if problems:
            detail = (f"{len(problems)} of {len(runs)} planned runs differ, e.g. {problems[0]}"
                      + (self._grid_held() if grid else ""))
        else:
            detail = self._grid_table_problem(self.planner.grid()) if grid else None
        if not detail:
            return None
        return (f"the options of this report do not match the runs on disk ({detail}); build the report with the "
                f"options of the run, e.g. `snakemake --report FILE <target> --configfile <the run's config>`")

    def refuse_stale(self, covered: Iterable[Covered]) -> None:
        """Raise a one-line UserError when the report would show runs its options do not describe."""
        line = self.stale(covered)
        if line:
            raise UserError(f"snakemake --report: {line}")

    # -- the page -------------------------------------------------------------------------------------
    def _seen(self, covered: list[Covered]) -> list[SeenRun]:
        import json

        out: dict[str, SeenRun] = {}
        for c in covered:
            for run in self.planned(c):
                folder = Path(self.run_dir(run))
                metrics = json.loads((folder / "metrics.json").read_text())
                out[str(folder)] = SeenRun(str(folder), resolve(read_yaml(folder / "config.yaml")).to_dict(),
                                           str(metrics.get("device_used", "unknown")))
        return list(out.values())

    def page(self, files: Iterable[Any]) -> str:
        """The report's first page (RST) for Snakemake's report file records (anything with ``.path``)."""
        covered = self.covered(str(getattr(f, "path", f)) for f in files)
        if not covered:
            return _title("l2l: Label2Label benchmark") + ("This report holds no table of the l2l pipeline: build it for a target "
                                           "that was run (``all``, ``ablations``, ``paper``, ``table5``, ...).\n")
        line = self.stale(covered)
        experiments = list(dict.fromkeys(c.experiment for c in covered))
        if line:
            return _title("l2l: Label2Label benchmark, experiment " + ", ".join(experiments)) + rst_text(line[0].upper() + line[1:]) + "\n"
        return self._describe(covered, experiments, self._seen(covered))

    def _target(self, covered: list[Covered]) -> str:
        parts = []
        for exp in dict.fromkeys(c.experiment for c in covered):
            tables = {c.table for c in covered if c.experiment == exp and c.table != GRID}
            if tables:
                suite = self.tables.suite_of(exp)
                parts.append(f"suite {rst_text(suite)}: {rst_list(t for t in self.tables.tables(suite) if t in tables)}")
            if any(c.experiment == exp and c.table == GRID for c in covered):
                parts.append("the default grid (target ``all``)")
        return "; ".join(parts)

    def _describe(self, covered: list[Covered], experiments: list[str], runs: list[SeenRun]) -> str:
        def values(get) -> str:
            return rst_list(sorted({get(r.config) for r in runs}, key=str))

        def per_dataset(get) -> str:
            by = {}
            for r in runs:
                by.setdefault(get(r.config), set()).add(Path(r.config["data"]["path"]).name)
            if len(by) == 1:
                return rst_text(next(iter(by)))
            return "; ".join(f"{rst_text(v)} ({rst_list(sorted(d))})" for v, d in sorted(by.items(), key=str))

        results = self.config["results_dir"]
        title = "l2l: Label2Label benchmark, experiment " + ", ".join(experiments)
        lines = [
            _title(title),
            "This report was produced by ``snakemake --report`` from the outputs of the l2l pipeline "
            "(*Label2Label: A Language Modeling Framework for Multi-Attribute Learning*, ECCV 2022). "
            f"What is below was read from the {len(runs)} run folders its tables aggregate (each run's "
            "``config.yaml`` and ``metrics.json``), not from the options of the report command.",
            "",
            f"* **covers**: {self._target(covered)}",
            "* **experiment**: " + "; ".join(
                f"{rst_text(e)} (runs in {rst_text(f'{results}/{e}/runs/')}, MLflow experiment {rst_text(e)})"
                for e in experiments),
            f"* **tracking URI**: {values(lambda c: c['tracking']['uri'])}",
            f"* **datasets**: {values(lambda c: Path(c['data']['path']).name)}",
            f"* **methods**: {values(lambda c: c['method'])}; **backbones**: {values(lambda c: c['backbone'])}",
            f"* **seeds**: {values(lambda c: c['seed'])} ({len(runs)} runs)",
            f"* **epochs**: {per_dataset(lambda c: c['train']['epochs'])}; **batch size**: "
            f"{per_dataset(lambda c: c['train']['batch_size'])}",
            f"* **protocol**: {values(lambda c: c['protocol'])}",
            f"* **device used**: {rst_list(sorted({r.device for r in runs}))}",
            "",
        ]
        return "\n".join(lines) + "\n"


def _title(text: str) -> str:
    escaped = rst_text(text)
    return f"{escaped}\n{'=' * max(len(escaped), 8)}\n\n"
