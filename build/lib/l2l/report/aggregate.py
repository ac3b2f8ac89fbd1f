"""``l2l aggregate``: the demo's table, mean ± std over seeds, one row per (dataset, backbone, method)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from l2l.io import atomic_write, file_set, write_text
from l2l.metrics import METRICS
from l2l.report.render import fmt, html_page, markdown_table, method_order
from l2l.report.plots import plot_error
from l2l.report.run_reader import read_run

IDENTITY = ("run", "dataset", "method", "backbone", "seed", "selected_epoch", "train_seconds")


def load_runs(metrics_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run: identifying config values, the headline metrics, aqn_error, group accuracies."""
    rows = []
    for f in metrics_files:
        r = read_run(Path(f).parent)
        rows.append({**{k: r[k] for k in IDENTITY}, **{m: r[m] for m in METRICS},
                     **({"aqn_error": r["aqn_error"]} if "aqn_error" in r else {}),
                     **{k: v for k, v in r.items() if k.startswith("group.")}})
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, keys: Sequence[str] = ("dataset", "backbone", "method")) -> pd.DataFrame:
    """mean, std (sample, ddof=1; NaN for one seed: no spread, printed without ±) and n for every metric column."""
    value_cols = [c for c in runs.columns if c in METRICS or c.startswith("group.") or c == "aqn_error"]
    g = runs.groupby(list(keys), sort=False)[value_cols]
    mean, std = g.mean(), g.std(ddof=1)
    out = pd.concat([mean.add_suffix("_mean"), std.add_suffix("_std")], axis=1)
    out.insert(0, "n", g.size())
    out = out.reset_index()
    out["_order"] = out["method"].map(method_order)
    return out.sort_values([*[k for k in keys if k != "method"], "_order"]).drop(columns="_order")


def to_markdown(summary: pd.DataFrame, metrics: Sequence[str] = ("error", "mA", "f1")) -> str:
    cols = ["dataset", "backbone", "method", "n"]
    rows = [[str(r[c]) for c in cols] + [fmt(r[m + "_mean"], r[m + "_std"]) for m in metrics]
            for _, r in summary.iterrows()]
    return markdown_table(cols + [f"{m} (%)" for m in metrics], rows)


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One 'mean ± std' column per metric (2 decimals), after the identifying columns and n."""
    keys = [c for c in summary.columns if not c.endswith(("_mean", "_std"))]
    metrics = [c[: -len("_mean")] for c in summary.columns if c.endswith("_mean")]
    out = summary[keys].copy()
    for m in metrics:
        out[f"{m} (%)"] = [fmt(a, b) for a, b in zip(summary[m + "_mean"], summary[m + "_std"])]
    return out


def write_html_tables(summary: pd.DataFrame, runs: pd.DataFrame, out_dir: str | Path) -> None:
    """``table.html`` (mean ± std over seeds) and ``runs.html`` (one row per run) in ``out_dir``."""
    out_dir = Path(out_dir)
    write_text(out_dir / "table.html", html_page(
        "Test metrics, mean ± std over seeds",
        "One row per dataset × backbone × method; n = number of seeds (runs); std is the sample std "
        "(ddof = 1; none for one run); every metric in %, on the test split at the epoch selected by train.selection.",
        summary_table(summary)))
    shown = runs.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].round(2)
    write_text(out_dir / "runs.html", html_page(
        "Every run", "Test metrics (%) of each run at its selected epoch, and its training time (s).", shown))


def aggregate(metrics_files: Sequence[str | Path], out_dir: str | Path) -> pd.DataFrame:
    """Write runs.csv, table.csv, table.md, error.png, table.html and runs.html into ``out_dir``."""
    out_dir = Path(out_dir)
    runs = load_runs(metrics_files)
    summary = summarize(runs)
    with file_set(out_dir) as stage:  # all six files, or (disk full, error) the previous six
        atomic_write(stage / "runs.csv", lambda p: runs.to_csv(p, index=False))
        atomic_write(stage / "table.csv", lambda p: summary.to_csv(p, index=False))
        plot_error(summary, stage / "error.png")
        md = ("Test metrics, mean ± std over seeds (n runs per row), epoch selected on validation error.\n\n"
              + to_markdown(summary) + "\n![test error](error.png)\n")
        write_text(stage / "table.md", md)
        write_html_tables(summary, runs, stage)
    return summary
