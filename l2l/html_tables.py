"""Self-contained HTML versions of the aggregated tables, for the Snakemake report.

The report shows HTML and images inline but offers CSV files only as downloads, so every
table that should be *read* in the report is also written as a small HTML page.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from l2l.io import write_text

_STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
          "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}th{background:#f3f3f3}"
          "td:nth-child(-n+3){text-align:left}")


def _page(title: str, note: str, table: pd.DataFrame) -> str:
    body = table.to_html(index=False, border=0, escape=True)
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h3>{html.escape(title)}</h3>\n"
            f"<p>{html.escape(note)}</p>\n{body}\n</body></html>\n")


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One 'mean ± std' column per metric (2 decimals), after the identifying columns and n."""
    keys = [c for c in summary.columns if not c.endswith(("_mean", "_std"))]
    metrics = [c[: -len("_mean")] for c in summary.columns if c.endswith("_mean")]
    out = summary[keys].copy()
    for m in metrics:
        out[f"{m} (%)"] = [f"{a:.2f} ± {b:.2f}" for a, b in zip(summary[m + "_mean"], summary[m + "_std"])]
    return out


def write_html_tables(summary: pd.DataFrame, runs: pd.DataFrame, out_dir: str | Path) -> None:
    """``table.html`` (mean ± std over seeds) and ``runs.html`` (one row per run) in ``out_dir``."""
    out_dir = Path(out_dir)
    write_text(out_dir / "table.html", _page(
        "Test metrics, mean ± std over seeds",
        "One row per dataset × backbone × method; n = number of seeds (runs); std is the sample std "
        "(ddof = 1, 0 for one run); every metric in %, on the test split at the epoch selected by train.selection.",
        summary_table(summary)))
    shown = runs.copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c]):
            shown[c] = shown[c].round(2)
    write_text(out_dir / "runs.html", _page(
        "Every run", "Test metrics (%) of each run at its selected epoch, and its training time (s).", shown))
