"""``l2l overview``: one table over a suite's tables (the field suite), with the published numbers beside ours.

Input: each table's ``table.csv`` (one row per cell: ``<metric>_mean``, ``_std``, ``n``) and ``stats.csv``
(the paired comparisons on the table's first metric, :func:`l2l.report.paper.compare_cells`), both written
by ``l2l table``, and ``table_suites.<suite>.overview`` (title, the compared pair, the published rows).
Per table (a dataset) it prints the table's first two metrics (mA and F1 for the pedestrian sets, error
and label accuracy for the face sets), each method's mean ± std over seeds, the published number with
the method it is of and where it was printed, and the paired t-test of A − B on the first metric (the
test of :func:`l2l.report.paper.paired_stats`, computed by ``l2l table``). With ``--log-mlflow`` the files
and each cell's means go to one MLflow run of the suite's experiment (run name ``<suite>/overview``).
Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from l2l.errors import UserError
from l2l.io import atomic_write, file_set, write_text
from l2l.report.render import fmt, html_page, markdown_table, method_label, method_order

_NAMES = {"mA": "mA", "f1_of_means": "F1", "error": "error", "label_accuracy": "accuracy", "f1": "F1 (mean of per-image)",
          "accuracy": "instance acc.", "precision": "precision", "recall": "recall"}


def metric_name(metric: str) -> str:
    return _NAMES.get(metric, metric)


def _metrics(table: pd.DataFrame) -> list[str]:
    return [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]


def overview_rows(tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], titles: Mapping[str, str],
                  spec: Mapping[str, Any], metrics_per_table: int = 2) -> pd.DataFrame:
    """Long rows: per table and each of its first ``metrics_per_table`` metrics, the methods' mean / std / n,
    the published value and, on the first metric, the paired A − B."""
    a, b = spec.get("compare") or ["label2label", "aqn"]
    baselines = spec.get("baselines") or {}
    rows: list[dict[str, Any]] = []
    for name, (table, stats) in tables.items():
        shown = table[table["shown"].astype(bool)]
        base = baselines.get(name) or {}
        pair = stats[(stats["a"] == a) & (stats["b"] == b)] if len(stats) else stats
        for k, metric in enumerate(_metrics(table)[:metrics_per_table]):
            row: dict[str, Any] = {"table": name, "set": titles.get(name, name), "metric": metric}
            for r in shown.to_dict("records"):
                row[f"{r['method']}_mean"], row[f"{r['method']}_std"] = r[f"{metric}_mean"], r[f"{metric}_std"]
                row[f"{r['method']}_n"] = int(r["n"])
            row["published"] = float(base[metric]) if metric in base else math.nan
            row["published_method"] = base.get("method", "") if metric in base else ""
            row["published_source"] = base.get("source", "") if metric in base else ""
            if k == 0 and len(pair):
                p = pair.iloc[0]
                row.update({"compare": f"{a} - {b}", "diff_mean": p["mean_diff"], "diff_std": p["std_diff"],
                            "pairs": int(p["n"]), "p_value": p["p_value"]})
            rows.append(row)
    return pd.DataFrame(rows)


def _methods(rows: pd.DataFrame) -> list[str]:
    found = [c[: -len("_mean")] for c in rows.columns if c.endswith("_mean") and c != "diff_mean"]
    return sorted(found, key=method_order)


def to_table(rows: pd.DataFrame, spec: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    a, b = spec.get("compare") or ["label2label", "aqn"]
    methods = _methods(rows)
    head = ["set", "metric", *(method_label(m) for m in methods), "published", "n",
            f"{method_label(a)} − {method_label(b)} (paired)", "p"]
    body = []
    for r in rows.to_dict("records"):
        ns = {int(r[f"{m}_n"]) for m in methods if not _nan(r.get(f"{m}_n"))}
        published = "—" if _nan(r["published"]) else f"{r['published']:.2f} ({method_label(r['published_method'])})"
        has_pair = not _nan(r.get("diff_mean"))
        body.append([r["set"], metric_name(r["metric"]),
                     *(fmt(r.get(f"{m}_mean"), r.get(f"{m}_std")) for m in methods), published,
                     "/".join(str(n) for n in sorted(ns)) or "—",
                     fmt(r["diff_mean"], r["diff_std"]) if has_pair else "",
                     ("—" if _nan(r.get("p_value")) else f"{r['p_value']:.3g}") if has_pair else ""])
    return head, body


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def sources(rows: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(f"{r['set']}: {r['published_source']}" for r in rows.to_dict("records")
                              if r["published_source"]))


def to_markdown(rows: pd.DataFrame, spec: Mapping[str, Any], suite: str, protocol: str, seeds: Sequence[int]) -> str:
    head, body = to_table(rows, spec)
    title = spec.get("title") or f"Suite {suite}: overview"
    lines = [f"# {title}", "", describe(suite, protocol, seeds), "", markdown_table(head, body).rstrip("\n"), "",
             "Published numbers (not run here; another protocol, so a difference is no verdict):", ""]
    lines += [f"* {s}" for s in sources(rows)] or ["* none"]
    lines += ["", "Per-attribute tables: `<table>/attributes.md` beside each table."]
    return "\n".join(lines) + "\n"


def describe(suite: str, protocol: str, seeds: Sequence[int]) -> str:
    return (f"Suite `{suite}`, protocol `{protocol}`, seeds {list(seeds)}: test mean ± sample std over seeds, in %. "
            "F1 = 2PR / (P + R) of the instance precision and recall (as Rethinking_of_PAR computes it); "
            "accuracy of a face set = 100 − error. Paired: mean ± std over seeds of A − B on the set's first "
            "metric, p of the two-sided paired t-test (scipy.stats.ttest_rel); n = runs per method.")


def read_tables(table_csvs: Sequence[str | Path], stats_csvs: Sequence[str | Path]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """``{table: (table.csv, stats.csv)}`` from ``.../tables/<table>/{table,stats}.csv`` (matched by folder)."""
    stats = {Path(p).parent.name: Path(p) for p in stats_csvs}
    out = {}
    for p in table_csvs:
        name = Path(p).parent.name
        if name not in stats:
            raise UserError(f"{p}: no stats.csv beside it among --stats; rebuild the table (snakemake does)")
        s = pd.read_csv(stats[name]) if stats[name].stat().st_size > 1 else pd.DataFrame()
        out[name] = (pd.read_csv(p), s)
    return out


def write_overview(tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]], titles: Mapping[str, str],
                   spec: Mapping[str, Any], suite: str, protocol: str, seeds: Sequence[int],
                   out_dir: str | Path) -> pd.DataFrame:
    """overview.md, overview.html and overview.csv in ``out_dir``."""
    rows = overview_rows(tables, titles, spec)
    head, body = to_table(rows, spec)
    with file_set(out_dir) as stage:
        atomic_write(stage / "overview.csv", lambda p: rows.to_csv(p, index=False))
        write_text(stage / "overview.md", to_markdown(rows, spec, suite, protocol, seeds))
        write_text(stage / "overview.html", html_page(spec.get("title") or suite, describe(suite, protocol, seeds)
                                                      .replace("`", ""), pd.DataFrame(body, columns=head)))
    return rows


def log_to_mlflow(uri: str, experiment: str, suite: str, rows: pd.DataFrame, files: Sequence[str | Path]) -> str:
    """One MLflow run ``<suite>/overview`` in the suite's experiment: every mean as a metric
    (``<table>.<method>.<metric>``, plus ``<table>.paired_diff`` / ``.paired_p``) and the files as artifacts
    (``overview.*`` at the top, each table's file under ``<table>/``)."""
    from l2l.tracking import Tracker, resolve_uri

    tracker = Tracker.start(resolve_uri(uri), experiment, f"{suite}/overview",
                            {"l2l.kind": "suite_overview", "l2l.suite": suite}, {"suite": suite})
    metrics: dict[str, float] = {}
    for r in rows.to_dict("records"):
        for m in _methods(rows):
            if not _nan(r.get(f"{m}_mean")):
                metrics[f"{r['table']}.{m}.{r['metric']}"] = float(r[f"{m}_mean"])
        if not _nan(r.get("diff_mean")):
            metrics[f"{r['table']}.paired_diff.{r['metric']}"] = float(r["diff_mean"])
            if not _nan(r.get("p_value")):
                metrics[f"{r['table']}.paired_p.{r['metric']}"] = float(r["p_value"])
    tracker.log_metrics(metrics)
    for f in files:  # the overview at the top; a table's file (<table>/attributes.md) under its table's folder
        folder = None if Path(f).name.startswith("overview.") else Path(f).parent.name
        tracker._call(lambda f=f, folder=folder: tracker.client.log_artifact(tracker.run_id, str(f), folder))
    tracker.finish("FINISHED")
    return tracker.run_id


def add_parser(sub) -> None:
    """``l2l overview``: the rule ``suite_overview`` calls it per suite with an overview."""
    import argparse

    p = sub.add_parser("overview", help="one table over a suite's tables with the published numbers beside ours",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
                           "examples:\n  l2l overview --tables results/field/tables/field_*/table.csv "
                           "--stats results/field/tables/field_*/stats.csv --spec-json \"$(cat spec.json)\" "
                           "--suite field --protocol clean --seeds 0 1 2 --out-dir results/field/tables/overview\n"
                           "  snakemake --cores 8 field   # the rule `suite_overview` calls it"))
    p.add_argument("--tables", nargs="+", required=True, help="table.csv of every table (…/<table>/table.csv)")
    p.add_argument("--stats", nargs="+", required=True, help="stats.csv of every table (…/<table>/stats.csv)")
    p.add_argument("--spec-json", required=True, help="table_suites.<suite>.overview with the tables' titles "
                                                      "({'overview': ..., 'titles': ...}; Snakemake passes it)")
    p.add_argument("--suite", required=True)
    p.add_argument("--protocol", required=True)
    p.add_argument("--seeds", nargs="+", type=int, required=True)
    p.add_argument("--out-dir", required=True, help="folder for overview.{md,html,csv}")
    p.add_argument("--log-mlflow", nargs=2, metavar=("URI", "EXPERIMENT"),
                   help="also log the overview (files and means) as one MLflow run of EXPERIMENT")
    p.add_argument("--artifacts", nargs="*", default=[], help="more files for the MLflow run (the attribute tables)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> None:
    import json

    spec = json.loads(args.spec_json)
    rows = write_overview(read_tables(args.tables, args.stats), spec.get("titles") or {}, spec["overview"],
                          args.suite, args.protocol, args.seeds, args.out_dir)
    print(to_markdown(rows, spec["overview"], args.suite, args.protocol, args.seeds))
    if args.log_mlflow:
        out = Path(args.out_dir)
        files = [out / f"overview.{e}" for e in ("md", "html", "csv")] + [Path(f) for f in args.artifacts]
        run_id = log_to_mlflow(args.log_mlflow[0], args.log_mlflow[1], args.suite, rows, files)
        print(f"MLflow run {run_id} ({args.suite}/overview)")
