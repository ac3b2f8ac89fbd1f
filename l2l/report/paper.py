"""``l2l table``: build one paper table from its planned cells (:func:`l2l.plan.tables.plan_table`).

Writes ``table.md``, ``table.csv``, ``stats.csv`` and the plots: per cell ours (mean ± sample std over
seeds), the paper's printed number, and the difference. Statistics: for each pair (A, B) in ``compare``
the runs are paired by seed; we report the mean of A − B, its sample std, and the two-sided p-value of
the paired t-test (``scipy.stats.ttest_rel``).
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l2l.errors import UserError
from l2l.io import atomic_write, file_set, read_yaml, write_text
from l2l.protocols import DEFAULT_PROTOCOL
from l2l.report import plots as figures
from l2l.report.intervals import Bootstrap, mean_ci, verdict
from l2l.report.render import fmt, html_page, markdown_table, mean_std, method_label
from l2l.report.run_reader import read_run

_NOT_METRICS = ("run", "dataset", "method", "backbone", "selected_epoch", "train_seconds")


# ------------------------------------------------------------------------------------- paper values

_PM = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:±\s*(\d+(?:\.\d+)?))?\s*$")


def parse_printed(value: Any) -> tuple[float, float | None]:
    """'13.63±0.02' -> (13.63, 0.02); '12.49' or 12.49 -> (12.49, None)."""
    m = _PM.match(str(value))
    if not m:
        raise UserError(f"paper number '{value}' is not 'x' or 'x±s'; fix config/paper_numbers.yaml")
    return float(m.group(1)), (float(m.group(2)) if m.group(2) else None)


def paper_row(paper: Mapping[str, Any], cell: Mapping[str, Any]) -> dict[str, Any] | None:
    """The paper's row for a cell: same method, and same backbone / parameter value where the row has one."""
    for row in paper.get("rows", []):
        if row.get("method") != cell["method"]:
            continue
        if "backbone" in row and row["backbone"] != cell["paper_backbone"]:
            continue
        if "value" in row and (cell["value"] is None or str(row["value"]) != str(cell["value"])):
            continue
        if "value" not in row and cell["value"] is not None:
            continue
        return dict(row)
    return None


# ----------------------------------------------------------------------------------------- building

def _load_run(run: str) -> dict[str, Any]:
    """The run's metrics (and seed) as one row (:func:`l2l.report.run_reader.read_run` without identity columns)."""
    return {k: v for k, v in read_run(run).items() if k not in _NOT_METRICS}


def expand_metrics(patterns: Sequence[str], available: Sequence[str]) -> list[str]:
    """Metric names, with shell-style patterns (``group.*``) expanded against the runs' metrics."""
    out: list[str] = []
    for p in patterns:
        hits = sorted(a for a in available if fnmatch.fnmatch(a, p)) if any(ch in p for ch in "*?[") else [p]
        if not hits or (hits == [p] and p not in available):
            raise UserError(f"metric '{p}' is in no run's metrics.json (available: {', '.join(sorted(available))}); "
                            f"fix the table's metrics in config/tables.yaml")
        out += [h for h in hits if h not in out]
    return out


def paired_stats(a: Mapping[int, float], b: Mapping[int, float]) -> dict[str, float]:
    """Paired by seed: mean and sample std of a − b, and the two-sided paired t-test p-value."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    diff = np.array([a[s] - b[s] for s in seeds], dtype=float)
    n = len(diff)
    out = {"n": n, "mean_diff": float(diff.mean()) if n else math.nan,
           "std_diff": float(diff.std(ddof=1)) if n > 1 else math.nan, "p_value": math.nan}
    if n > 1:
        if np.allclose(diff, diff[0]):  # zero variance: the t statistic is undefined
            out["p_value"] = 0.0 if diff[0] != 0 else 1.0
        else:
            out["p_value"] = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return out


def _cell_label(plan: Mapping[str, Any], cell: Mapping[str, Any]) -> str:
    if plan["param"] and cell["value"] is not None:
        return f"{plan['param'].get('label') or plan['param']['key']} = {cell['value']}"
    return method_label(cell["method"])


def summarize_cells(plan: Mapping[str, Any], paper: Mapping[str, Any]) -> tuple[pd.DataFrame, dict, list[str]]:
    """One row per cell: mean, std, n, paper value and delta per metric; plus per-cell per-seed values."""
    per_cell = {i: pd.DataFrame([_load_run(r) for r in c["runs"]]) for i, c in enumerate(plan["cells"])}
    boot = Bootstrap(**plan.get("bootstrap", {}))
    available = sorted(set.intersection(*(set(df.columns) for df in per_cell.values())) - {"seed"})
    metrics = expand_metrics(plan["metrics"], available)
    rows = []
    for i, cell in enumerate(plan["cells"]):
        df, prow = per_cell[i], paper_row(paper, cell)
        row = {"table": plan["table"], "label": _cell_label(plan, cell), "method": cell["method"],
               "backbone": cell["backbone"], "paper_backbone": cell["paper_backbone"], "dataset": cell["dataset"],
               "value": cell["value"], "variant": cell["variant"], "shown": cell["show"], "n": len(df)}
        for m in metrics:
            row[f"{m}_mean"], row[f"{m}_std"] = mean_std(df[m])
            row[f"{m}_ci_low"], row[f"{m}_ci_high"] = mean_ci(list(df[m]), boot)  # 95 % bootstrap over seeds
            pv, ps = parse_printed(prow[m]) if prow and m in prow else (math.nan, None)
            row[f"{m}_paper"], row[f"{m}_paper_std"] = pv, (ps if ps is not None else math.nan)
            row[f"{m}_delta"] = row[f"{m}_mean"] - pv
            row[f"{m}_verdict"] = verdict(pv, row[f"{m}_ci_low"], row[f"{m}_ci_high"], len(df), boot)
        if prow and "macs_g" in prow:
            row["paper_reported_gmacs"] = parse_printed(prow["macs_g"])[0]
        rows.append(row)
    return pd.DataFrame(rows), per_cell, metrics


def compare_cells(plan: Mapping[str, Any], per_cell: Mapping[int, pd.DataFrame], metric: str) -> pd.DataFrame:
    rows = []
    for backbone in dict.fromkeys(c["backbone"] for c in plan["cells"]):
        def find(method: str) -> int | None:
            for i, c in enumerate(plan["cells"]):
                if c["backbone"] == backbone and c["method"] == method \
                        and c["variant"] == plan["reference_variants"].get(backbone, "base"):
                    return i
            return None

        for a, b in plan["compare"]:
            ia, ib = find(a), find(b)
            if ia is None or ib is None:
                continue
            sa = dict(zip(per_cell[ia]["seed"], per_cell[ia][metric]))
            sb = dict(zip(per_cell[ib]["seed"], per_cell[ib][metric]))
            rows.append({"backbone": backbone, "a": a, "b": b, "metric": metric, **paired_stats(sa, sb),
                         "test": "paired t-test (scipy.stats.ttest_rel), two-sided, pairs = seeds"})
    return pd.DataFrame(rows)


def _gmacs(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.4g}"


def cell_table(plan: Mapping[str, Any], summary: pd.DataFrame, metrics: Sequence[str]) -> tuple[list[str], list]:
    """Header and rows of the shown cells: ours, the paper's number and the delta per metric (MACs for Table 5)."""
    shown = summary[summary["shown"]]
    multi_bb = shown["backbone"].nunique() > 1
    head = (["backbone"] if multi_bb else []) + ["row", "n"]
    for m in metrics:
        head += [f"{m} ours", f"{m} paper", f"Δ {m}"]
    if plan["macs"]:
        head += ["GMACs paper conv.", "GMACs full", "GMACs paper"]
    rows = []
    for _, r in shown.iterrows():
        r = r.to_dict()
        vals = ([f"{r['backbone']} ({r['paper_backbone']})"] if multi_bb else []) + [r["label"], str(r["n"])]
        for m in metrics:
            vals += [fmt(r[f"{m}_mean"], r[f"{m}_std"]), fmt(r[f"{m}_paper"], r[f"{m}_paper_std"]),
                     fmt(r[f"{m}_delta"])]
        if plan["macs"]:
            vals += [_gmacs(r.get("paper_gmacs")), _gmacs(r.get("full_gmacs")), _gmacs(r.get("paper_reported_gmacs"))]
        rows.append(vals)
    return head, rows


def describe(plan: Mapping[str, Any]) -> str:
    """The line under a table's title: suite, protocol, data, seeds and what the columns mean."""
    return (f"Suite `{plan['suite']}`, protocol `{plan.get('protocol', DEFAULT_PROTOCOL)}`: dataset `{plan['dataset']}` "
            f"(paper: {plan['paper_dataset']}), seeds {plan['seeds']}. Ours: test mean ± sample std over seeds "
            f"(n runs); paper: as printed; Δ = ours − paper (percentage points).")


def to_html(plan: Mapping[str, Any], summary: pd.DataFrame, metrics: Sequence[str]) -> str:
    head, rows = cell_table(plan, summary, metrics)
    return html_page(plan["title"], describe(plan).replace("`", ""), pd.DataFrame(rows, columns=head))


def to_markdown(plan: Mapping[str, Any], summary: pd.DataFrame, stats: pd.DataFrame, metrics: Sequence[str],
                paper: Mapping[str, Any], plots: Sequence[str]) -> str:
    head, rows = cell_table(plan, summary, metrics)
    lines = [f"# {plan['title']}", "", describe(plan), ""]
    lines += markdown_table(head, rows).splitlines()
    others = [row for row in paper.get("rows", []) if "name" in row]
    if others:
        lines += ["", "Other methods, as printed in the paper (not run here):", ""]
        lines += markdown_table(["method", *metrics],
                                [[str(o["name"])] + [str(o.get(m, "—")) for m in metrics] for o in others]).splitlines()
    if plan["macs"]:
        lines += ["", "GMACs per image from `l2l macs`: *paper conv.* counts what a hook on nn.Conv2d / "
                  "nn.Linear sees (the paper's convention: in the decoder heads only the FFNs), *full* counts "
                  "every multiply-add including attention projections and products; the paper convention "
                  "understates each decoder layer by its attention."]
    if len(stats):
        lines += ["", f"Paired comparison on `{stats['metric'].iloc[0]}` (pairs = seeds; "
                  "p: two-sided paired t-test, scipy.stats.ttest_rel):", ""]
        lines += markdown_table(["backbone", "A − B", "n", "mean diff", "std diff", "p"], [
            [s.backbone, f"{method_label(s.a)} − {method_label(s.b)}", s.n, fmt(s.mean_diff),
             fmt(s.std_diff), "—" if math.isnan(s.p_value) else f"{s.p_value:.3g}"] for s in stats.itertuples()]
        ).splitlines()
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def build_table(plan: Mapping[str, Any], paper_file: str | Path, out_dir: str | Path,
                macs_files: Sequence[str | Path] = ()) -> pd.DataFrame:
    """Write table.md, table.html, table.csv, stats.csv, plot.png and curves.png of one planned table."""
    out_dir = Path(out_dir)
    paper = (read_yaml(paper_file) or {}).get(plan["table"], {})
    summary, per_cell, metrics = summarize_cells(plan, paper)
    if plan["macs"]:
        summary = _attach_macs(summary, macs_files)
    stats = compare_cells(plan, per_cell, metrics[0])
    with file_set(out_dir) as stage:  # the whole set, or (disk full, error) the previous one
        plots = figures.make_plots(plan, summary, metrics, stage)
        atomic_write(stage / "table.csv", lambda p: summary.to_csv(p, index=False))
        atomic_write(stage / "stats.csv", lambda p: stats.to_csv(p, index=False))
        write_text(stage / "table.md", to_markdown(plan, summary, stats, metrics, paper, plots))
        write_text(stage / "table.html", to_html(plan, summary, metrics))
    return summary


def _attach_macs(summary: pd.DataFrame, macs_files: Sequence[str | Path]) -> pd.DataFrame:
    found = {}
    for f in macs_files:
        d = json.loads(Path(f).read_text())
        found[(d["method"], d["backbone"])] = d
    summary = summary.copy()
    for col in ("paper_gmacs", "full_gmacs"):
        summary[col] = [found.get((r.method, r.backbone), {}).get(col, math.nan) for r in summary.itertuples()]
    return summary
