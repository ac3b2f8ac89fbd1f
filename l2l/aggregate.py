"""Tables and plots from run folders: mean ± std over seeds, one row per (dataset, backbone, method)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from l2l.html_tables import write_html_tables
from l2l.io import atomic_write, read_yaml, write_text

METRICS = ("error", "mA", "accuracy", "precision", "recall", "f1")
METHOD_ORDER = {"fc_head": 0, "aqn": 1, "label2label": 2}


def load_runs(metrics_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run: identifying config values plus scalar test metrics."""
    rows = []
    for f in metrics_files:
        f = Path(f)
        result = json.loads(f.read_text())
        cfg = read_yaml(f.parent / "config.yaml")
        test = result["test"]
        row = {"run": str(f.parent), "dataset": Path(cfg["data"]["path"]).name, "method": cfg["method"],
               "backbone": cfg["backbone"], "seed": cfg["seed"], "selected_epoch": result["selected_epoch"],
               "train_seconds": result["train_seconds"]}
        row.update({m: test[m] for m in METRICS})
        row.update({"aqn_error": test["aqn_error"]} if "aqn_error" in test else {})
        row.update({f"group.{g}": v for g, v in test.get("group_accuracy", {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, keys: Sequence[str] = ("dataset", "backbone", "method")) -> pd.DataFrame:
    """mean, std (sample, ddof=1; 0 for one seed) and n for every numeric metric column."""
    value_cols = [c for c in runs.columns if c in METRICS or c.startswith("group.") or c == "aqn_error"]
    g = runs.groupby(list(keys), sort=False)[value_cols]
    mean, std = g.mean(), g.std(ddof=1).fillna(0.0)
    out = pd.concat([mean.add_suffix("_mean"), std.add_suffix("_std")], axis=1)
    out.insert(0, "n", g.size())
    out = out.reset_index()
    out["_order"] = out["method"].map(METHOD_ORDER).fillna(99)
    return out.sort_values([*[k for k in keys if k != "method"], "_order"]).drop(columns="_order")


def to_markdown(summary: pd.DataFrame, metrics: Sequence[str] = ("error", "mA", "f1")) -> str:
    cols = ["dataset", "backbone", "method", "n"]
    head = "| " + " | ".join(cols + [f"{m} (%)" for m in metrics]) + " |"
    lines = [head, "|" + "---|" * (len(cols) + len(metrics))]
    for _, r in summary.iterrows():
        vals = [str(r[c]) for c in cols] + [f"{r[m + '_mean']:.2f} ± {r[m + '_std']:.2f}" for m in metrics]
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def plot_error(summary: pd.DataFrame, path: str | Path, metric: str = "error") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.method}\n{r.backbone}" if summary["backbone"].nunique() > 1 else r.method
              for r in summary.itertuples()]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(summary), 3.4))
    ax.bar(labels, summary[f"{metric}_mean"], yerr=summary[f"{metric}_std"], capsize=4,
           color=["#8da0cb", "#66c2a5", "#fc8d62"][: len(summary)] if len(summary) <= 3 else None)
    lo = float((summary[f"{metric}_mean"] - summary[f"{metric}_std"]).min())
    ax.set_ylim(max(0.0, lo - 0.5 * max(0.5, float(np.ptp(summary[f"{metric}_mean"])))), None)
    ax.set_ylabel(f"test {metric} (%)")
    ax.set_title(f"mean ± std over seeds (n = {int(summary['n'].min())})")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120))
    plt.close(fig)


def aggregate(metrics_files: Sequence[str | Path], out_dir: str | Path) -> pd.DataFrame:
    """Write runs.csv, table.csv, table.md, error.png (and table.html, runs.html) into ``out_dir``."""
    out_dir = Path(out_dir)
    runs = load_runs(metrics_files)
    summary = summarize(runs)
    atomic_write(out_dir / "runs.csv", lambda p: runs.to_csv(p, index=False))
    atomic_write(out_dir / "table.csv", lambda p: summary.to_csv(p, index=False))
    plot_error(summary, out_dir / "error.png")
    md = ("Test metrics, mean ± std over seeds (n runs per row), epoch selected on validation error.\n\n"
          + to_markdown(summary) + "\n![test error](error.png)\n")
    write_text(out_dir / "table.md", md)
    write_html_tables(summary, runs, out_dir)
    return summary
