"""The "Reproduction summary": across every table that was run, which of the paper's numbers we reproduced.

Input: the ``table.csv`` files the ``table`` rule writes (one row per cell with ``<metric>_mean``,
``<metric>_std``, ``<metric>_paper`` and ``n``). For each cell and its table's primary metric (the first
metric of the table) it reports ours (mean ± std, n), the paper's number, the difference in units of our
std and whether the paper's number lies inside our mean ± 2 std; for each table whether the paper's
ordering holds: L2L < AQN < FC Head in error (per backbone) for method tables, and the same best setting
for ablation tables. With one seed there is no std: the z column is blank and "inside" says
``no spread (n = 1)`` instead of yes/no (nothing to be inside of).

The verdict (issue 24) comes from the 95 % percentile bootstrap interval of our mean over seeds that
``l2l table`` writes (``<metric>_ci_low/high``, ``<metric>_verdict``; :mod:`l2l.report.intervals`):
"consistent" when the paper's number lies inside it, "not consistent" when outside, and "too small to
tell" below ``bootstrap.min_seeds`` seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from l2l.io import atomic_write, write_text
from l2l.metrics import lower_is_better
from l2l.report.intervals import METHOD
from l2l.report.render import fmt

# The paper's method ordering, best first (error: lower is better); a table is checked on the methods it has.
PAPER_ORDER = ("label2label", "aqn", "fc_head")
NO_SPREAD = "no spread (n = 1)"  # "inside" of a cell with one seed: there is no interval to be inside of


def primary_metric(table: pd.DataFrame) -> str:
    """The first metric of the table (the one it is compared and plotted on)."""
    for col in table.columns:
        if col.endswith("_mean"):
            return col[: -len("_mean")]
    raise ValueError("table.csv has no <metric>_mean column")


def cell_rows(name: str, table: pd.DataFrame, metric: str) -> list[dict[str, Any]]:
    rows = []
    for r in table[table["shown"].astype(bool)].to_dict("records"):
        mean, std, paper, n = r[f"{metric}_mean"], r[f"{metric}_std"], r[f"{metric}_paper"], int(r["n"])
        has_paper = not _nan(paper)
        z = (mean - paper) / std if has_paper and n > 1 and std > 0 else math.nan
        spread = n > 1 and not _nan(std)
        inside = None if not has_paper else (bool(abs(mean - paper) <= 2 * std) if spread else NO_SPREAD)
        rows.append({"table": name, "cell": r["label"], "backbone": r["backbone"], "metric": metric,
                     "n": n, "ours_mean": mean, "ours_std": std if n > 1 else math.nan, "paper": paper,
                     "diff": mean - paper if has_paper else math.nan, "z": z, "inside_2std": inside,
                     "ci_low": r.get(f"{metric}_ci_low", math.nan), "ci_high": r.get(f"{metric}_ci_high", math.nan),
                     "verdict": r.get(f"{metric}_verdict") if isinstance(r.get(f"{metric}_verdict"), str) else "—"})
    return rows


def ordering_checks(name: str, table: pd.DataFrame, metric: str) -> list[dict[str, Any]]:
    """Method tables: does ours rank the methods as the paper does? Ablations: same best setting?"""
    shown = table[table["shown"].astype(bool)]
    better = min if lower_is_better(metric) else max
    checks = []
    values = shown["value"] if "value" in shown else pd.Series([None] * len(shown))
    if values.notna().any():  # an ablation: one row per parameter value
        ours_best = _best(shown, f"{metric}_mean", better)
        paper_best = _best(shown, f"{metric}_paper", better)
        checks.append({"table": name, "check": f"best setting ({metric})", "ours": ours_best,
                       "paper": paper_best, "holds": None if paper_best is None else ours_best == paper_best})
        return checks
    for backbone, group in shown.groupby("backbone", sort=False):
        present = [m for m in PAPER_ORDER if m in set(group["method"])]
        if len(present) < 2:
            continue
        by_method = group.set_index("method")
        ours = sorted(present, key=lambda m: by_method.loc[m, f"{metric}_mean"],
                      reverse=not lower_is_better(metric))
        checks.append({"table": name, "check": f"{' < '.join(present)} in {metric} ({backbone})"
                       if lower_is_better(metric) else f"{' > '.join(present)} in {metric} ({backbone})",
                       "ours": " , ".join(ours), "paper": " , ".join(present), "holds": ours == present})
    return checks


def _best(frame: pd.DataFrame, column: str, better) -> str | None:
    known = frame[frame[column].notna()]
    if known.empty:
        return None
    target = better(known[column])
    return str(known[known[column] == target]["label"].iloc[0])


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def summarize(tables: Mapping[str, str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, checks) over ``{table name: table.csv}``."""
    cells, checks = [], []
    for name, path in tables.items():
        table = pd.read_csv(path)
        metric = primary_metric(table)
        cells += cell_rows(name, table, metric)
        checks += ordering_checks(name, table, metric)
    return pd.DataFrame(cells), pd.DataFrame(checks)


def _yes(x: Any) -> str:
    if isinstance(x, str):
        return x
    return "—" if x is None or _nan(x) else ("yes" if x else "**no**")


def to_markdown(cells: pd.DataFrame, checks: pd.DataFrame, suite: str, protocol: str = "") -> str:
    n_paper = int(cells["paper"].notna().sum()) if len(cells) else 0
    n_inside = int((cells["inside_2std"] == True).sum()) if len(cells) else 0  # noqa: E712 (None = no paper)
    n_flat = int((cells["inside_2std"] == NO_SPREAD).sum()) if len(cells) else 0
    n_consistent = int((cells["verdict"] == "consistent").sum()) if len(cells) else 0
    n_not = int((cells["verdict"] == "not consistent").sum()) if len(cells) else 0
    n_small = int(cells["verdict"].astype(str).str.contains("too small").sum()) if len(cells) else 0
    lines = ["# Reproduction summary", "",
             f"Suite `{suite}`" + (f", protocol `{protocol}`" if protocol else "") + f": {len(cells)} cells run, "
             f"{n_paper} with a paper number, {n_inside} of those inside our mean ± 2 std"
             + (f", {n_flat} with one seed (no spread to compare with)" if n_flat else "") + ". "
             "z = (ours − paper) / our std over seeds; \"inside\" = paper within ours ± 2 std.", "",
             f"Verdict: {n_consistent} consistent, {n_not} not consistent, {n_small} with too few seeds to tell. "
             f"A cell is consistent when the paper's number lies inside the {METHOD} of our mean "
             "(the 95 % CI column); with fewer seeds than bootstrap.min_seeds it gives no verdict.", "",
             "## Cells", "",
             "| table | cell | backbone | metric | n | ours | 95 % CI | paper | ours − paper | z | inside ±2 std | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in cells.to_dict("records"):
        ours = fmt(r["ours_mean"], r["ours_std"])
        ci = "—" if _nan(r["ci_low"]) else f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
        lines.append(f"| {r['table']} | {r['cell']} | {r['backbone']} | {r['metric']} | {r['n']} | {ours} | {ci} | "
                     f"{fmt(r['paper'])} | {fmt(r['diff'])} | {fmt(r['z'], digits=1)} | {_yes(r['inside_2std'])} | "
                     f"{r['verdict']} |")
    lines += ["", "## Does the paper's ordering hold?", "", "| table | check | ours | paper | holds |",
              "|---|---|---|---|---|"]
    for r in checks.to_dict("records"):
        lines.append(f"| {r['table']} | {r['check']} | {r['ours'] or '—'} | {r['paper'] or '—'} | {_yes(r['holds'])} |")
    return "\n".join(lines) + "\n"


def to_html(cells: pd.DataFrame, checks: pd.DataFrame, suite: str, protocol: str = "") -> str:
    """The same page for the Snakemake report (which shows HTML inline, markdown only as a download)."""
    import html

    md_lines = to_markdown(cells, checks, suite, protocol).splitlines()
    intro = html.escape(" ".join(md_lines[i] for i in (2, 4)).replace("`", ""))
    plain = {True: "yes", False: "no", NO_SPREAD: NO_SPREAD}
    shown = cells.assign(inside_2std=cells["inside_2std"].map(lambda x: plain.get(x, "—"))) if len(cells) else cells
    checks_shown = checks.assign(holds=checks["holds"].map(lambda x: plain.get(x, "—"))) if len(checks) else checks
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Reproduction summary</title></head><body>"
            f"<h1>Reproduction summary</h1><p>{intro}</p><h2>Cells</h2>"
            + shown.to_html(index=False, na_rep="—", float_format=lambda x: f"{x:.2f}", escape=True)
            + "<h2>Does the paper's ordering hold?</h2>"
            + checks_shown.to_html(index=False, na_rep="—", escape=True) + "</body></html>\n")


def write_summary(tables: Mapping[str, str | Path], out_dir: str | Path, suite: str,
                  protocol: str = "") -> pd.DataFrame:
    """reproduction_summary.md / .html / .csv (cells) and reproduction_checks.csv in ``out_dir``."""
    out_dir = Path(out_dir)
    cells, checks = summarize(tables)
    write_text(out_dir / "reproduction_summary.md", to_markdown(cells, checks, suite, protocol))
    write_text(out_dir / "reproduction_summary.html", to_html(cells, checks, suite, protocol))
    atomic_write(out_dir / "reproduction_summary.csv", lambda p: cells.to_csv(p, index=False))
    atomic_write(out_dir / "reproduction_checks.csv", lambda p: checks.to_csv(p, index=False))
    return cells


def table_names(paths: Sequence[str | Path]) -> dict[str, str]:
    """``.../tables/<table>/table.csv`` -> ``{table: path}``."""
    return {Path(p).parent.name: str(p) for p in paths}
