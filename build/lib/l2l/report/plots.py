"""Every figure of the reports (PNG, linked from table.md): the demo's error bars; a paper table's metric vs
parameter, vs MACs, bars and training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from l2l.io import atomic_write


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _spread(std: pd.Series) -> pd.Series:
    """Error-bar half-lengths: a cell of one seed has no std (NaN in the tables) and gets no bar."""
    return std.fillna(0.0)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    _plt().close(fig)


def plot_error(summary: pd.DataFrame, path: str | Path, metric: str = "error") -> None:
    """The demo table's bar chart: mean ± std over seeds per method (and backbone)."""
    plt = _plt()
    labels = [f"{r.method}\n{r.backbone}" if summary["backbone"].nunique() > 1 else r.method
              for r in summary.itertuples()]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(summary), 3.4))
    ax.bar(labels, summary[f"{metric}_mean"], yerr=_spread(summary[f"{metric}_std"]), capsize=4,
           color=["#8da0cb", "#66c2a5", "#fc8d62"][: len(summary)] if len(summary) <= 3 else None)
    lo = float((summary[f"{metric}_mean"] - _spread(summary[f"{metric}_std"])).min())
    ax.set_ylim(max(0.0, lo - 0.5 * max(0.5, float(np.ptp(summary[f"{metric}_mean"])))), None)
    ax.set_ylabel(f"test {metric} (%)")
    ax.set_title(f"mean ± std over seeds (n = {int(summary['n'].min())})")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=120))
    plt.close(fig)


def plot_param(plan: Mapping[str, Any], summary: pd.DataFrame, metric: str, path: Path) -> None:
    """Ours (mean ± std over seeds, left axis) and the paper's numbers (right axis) vs the varied parameter."""
    plt = _plt()
    shown = summary[summary["shown"]]
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    numeric = all(isinstance(v, (int, float)) for v in shown["value"])
    for (backbone, method), df in shown.groupby(["backbone", "method"], sort=False):
        x = df["value"].astype(float) if numeric else range(len(df))
        ax.errorbar(x, df[f"{metric}_mean"], yerr=_spread(df[f"{metric}_std"]), marker="o", capsize=4,
                    label=f"ours ({backbone})")
        if df[f"{metric}_paper"].notna().any():
            ax2 = ax.twinx()
            ax2.plot(x, df[f"{metric}_paper"], "s--", color="gray", label="paper")
            ax2.set_ylabel(f"paper {metric} (%)", color="gray")
        if not numeric:
            ax.set_xticks(list(x), [str(v) for v in df["value"]], rotation=15)
    param = plan["param"]
    ax.set_xlabel((param.get("label") or param["key"]) + f" ({param['key']})")
    ax.set_ylabel(f"our test {metric} (%)")
    ax.set_title(f"{plan['table']}: mean ± std over {int(shown['n'].min())} seeds", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)


def plot_macs(plan: Mapping[str, Any], summary: pd.DataFrame, metric: str, path: Path) -> None:
    """Metric vs paper-convention GMACs, one colour per method, one point per backbone."""
    plt = _plt()
    shown = summary[summary["shown"]]
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for method, df in shown.groupby("method", sort=False):
        ax.errorbar(df["paper_gmacs"], df[f"{metric}_mean"], yerr=_spread(df[f"{metric}_std"]), marker="o", capsize=4,
                    linestyle="none", label=method)
        for _, r in df.iterrows():
            ax.annotate(r["backbone"], (r["paper_gmacs"], r[f"{metric}_mean"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("GMACs per image (paper convention, l2l macs)")
    ax.set_ylabel(f"test {metric} (%)")
    ax.set_title(f"{plan['table']}: {metric} vs MACs", fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_bars(plan: Mapping[str, Any], summary: pd.DataFrame, metric: str, path: Path) -> None:
    plt = _plt()
    shown = summary[summary["shown"]]
    fig, ax = plt.subplots(figsize=(1.8 + 1.2 * len(shown), 3.4))
    labels = [lbl.replace(" (", "\n(") for lbl in shown["label"]]
    ax.bar(labels, shown[f"{metric}_mean"], yerr=_spread(shown[f"{metric}_std"]), capsize=4, color="#8da0cb")
    ax.tick_params(axis="x", labelsize=7)
    ax.set_ylabel(f"test {metric} (%)")
    ax.set_title(f"{plan['table']}: mean ± std over seeds", fontsize=9)
    _save(fig, path)


def curve_column(histories: Sequence[pd.DataFrame]) -> str:
    """The per-epoch error the run selected its epoch on: ``val_error``, or ``test_error`` for runs without a
    val split (the official protocol trains on train+val and selects on test, so its history has no val), or
    ``train_loss`` for runs that evaluate only once, at the end (the official Clothing recipe keeps its last
    epoch: its history holds no per-epoch error)."""
    for column in ("val_error", "test_error"):
        if all(column in h for h in histories):
            return column
    return "train_loss"


CURVE_LABELS = {"val_error": "validation error (%)", "test_error": "test error (%), the selection split",
                "train_loss": "training loss (no per-epoch evaluation)"}


def plot_curves(plan: Mapping[str, Any], summary: pd.DataFrame, path: Path) -> None:
    """Selection error per epoch (validation, or test under the official protocol) of every shown cell
    (mean over seeds, band = ± std)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    cells = [(c, row) for c, row in zip(plan["cells"], summary.itertuples()) if c["show"]]
    histories = {i: [pd.read_csv(Path(r) / "history.csv") for r in c["runs"]] for i, (c, _) in enumerate(cells)}
    column = curve_column([h for hs in histories.values() for h in hs])
    for i, (cell, row) in enumerate(cells):
        df = pd.concat(histories[i]).groupby("epoch")[column].agg(["mean", "std"]).fillna(0.0)
        label = row.label if summary["backbone"].nunique() == 1 else f"{row.label} ({row.backbone})"
        ax.plot(df.index, df["mean"], label=label)
        ax.fill_between(df.index, df["mean"] - df["std"], df["mean"] + df["std"], alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(CURVE_LABELS[column])
    ax.set_title(f"{plan['table']}: training curves", fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, path)


def make_plots(plan: Mapping[str, Any], summary: pd.DataFrame, metrics: Sequence[str], out_dir: Path) -> list[str]:
    """Write the table's two PNGs and return their names: ``plot.png`` (the first metric against the varied
    parameter, against MACs, or as bars per cell) and ``curves.png`` (validation error per epoch). Fixed
    names, so the workflow declares them as outputs and the Snakemake report shows them."""
    metric = metrics[0]
    if plan["param"]:
        plot_param(plan, summary, metric, out_dir / "plot.png")
    elif plan["macs"] and not summary["paper_gmacs"].isna().all():
        plot_macs(plan, summary, metric, out_dir / "plot.png")
    else:
        plot_bars(plan, summary, metric, out_dir / "plot.png")
    plot_curves(plan, summary, out_dir / "curves.png")
    return ["plot.png", "curves.png"]
