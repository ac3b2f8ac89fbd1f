"""The shared pieces of every table: mean ± std over seeds, number format, markdown and HTML writers."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd

from l2l.methods import method_label, method_order  # display names and row order: the method catalogue


def mean_std(values: pd.Series) -> tuple[float, float]:
    """Mean and sample std (ddof = 1) of one metric over seeds; a single run has no spread: its std is NaN,
    so every table prints it without "± 0.00" (fmt) and the CSV leaves it empty."""
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else math.nan)


def fmt(mean: float | None, std: float | None = None, digits: int = 2) -> str:
    """'12.34 ± 0.56', '12.34' (no std: None or NaN, e.g. one seed) or '—' (missing)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None and not math.isnan(std) else "")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The one markdown table writer (GitHub pipes, one '---' per column)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


_STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
          "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}th{background:#f3f3f3}"
          "td:nth-child(-n+3){text-align:left}")


def html_page(title: str, note: str, table: pd.DataFrame) -> str:
    """A self-contained HTML page of one table (the Snakemake report shows HTML inline, CSV only as a download)."""
    body = table.to_html(index=False, border=0, escape=True)
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h3>{html.escape(title)}</h3>\n"
            f"<p>{html.escape(note)}</p>\n{body}\n</body></html>\n")
