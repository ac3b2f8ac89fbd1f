"""``l2l zoo``: the model zoo of one experiment (``results/<experiment>/zoo.{md,csv,html}``).

Like the field's zoos (MMPretrain metafiles, timm's results CSVs), per result: the metrics, the paper's
number, a checkpoint whose file name carries the first 8 hex digits of its sha256 (``model-<sha8>.pt``, a
hard link beside the run's ``model.pt``), the MLflow run id and the one command that re-creates the run.
One row per cell (dataset × backbone × method × variant × protocol: mean ± std over seeds, the 95 %
bootstrap interval and the verdict against the paper) and, in the CSV, one row per seed. A run whose
``model.pt`` is gone gets ``missing: <path>`` instead of a stale hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from l2l.io import atomic_write, file_set, write_text
from l2l.metrics import METRICS
from l2l.report.intervals import METHOD, Bootstrap, mean_ci, verdict
from l2l.report.render import fmt, html_page, markdown_table, mean_std, method_order
from l2l.report.run_reader import read_run
from l2l.run_files import IMAGE_ERRORS

CELL = ("dataset", "backbone", "method", "variant", "protocol")
PRIMARY = "error"  # the zoo's interval and verdict: the paper's headline metric for LFWA and Clothing


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hashed_checkpoint(run_dir: Path) -> tuple[str, str]:
    """(``<run>/model-<sha8>.pt``, sha256): a hard link (a copy across file systems) to model.pt, written
    atomically; older ``model-*.pt`` of another hash are removed. ``("missing: <run>/model.pt", "")`` if none."""
    model = run_dir / "model.pt"
    if not model.is_file():
        for stale in run_dir.glob("model-*.pt"):
            stale.unlink()
        return f"missing: {model}", ""
    digest = sha256_of(model)
    target = run_dir / f"model-{digest[:8]}.pt"
    for stale in run_dir.glob("model-*.pt"):
        if stale != target:
            stale.unlink()
    if not target.is_file() or sha256_of(target) != digest:
        tmp = run_dir / f".{target.name}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(model, tmp)
        except OSError:
            import shutil

            shutil.copy2(model, tmp)
        os.replace(tmp, target)
    return str(target), digest


def rerun_command(run_dir: Path, experiment: str) -> str:
    """The one command that re-creates the run: ``l2l train`` on the run's own config.yaml (its seed, data,
    every hyper-parameter), into ``results/<experiment>/reruns/...`` and MLflow experiment ``<exp>_reruns``."""
    parts = run_dir.parts
    try:
        at = parts.index("runs")
    except ValueError:
        at = len(parts) - 1
    out = Path(*parts[:at], "reruns", *parts[at + 1:]) if at < len(parts) - 1 else run_dir.with_name(run_dir.name + ".rerun")
    return shlex.join(["l2l", "train", "--config", str(run_dir / "config.yaml"), "--set",
                       f"tracking.experiment={experiment}_reruns", "--out", str(out)])


def seed_rows(metrics_files: Sequence[str | Path], experiment: str) -> pd.DataFrame:
    """One row per run: its cell, seed, metrics, checkpoint, run id and command."""
    rows = []
    for f in metrics_files:
        run_dir = Path(f).parent
        r = read_run(run_dir)
        variant, protocol = run_dir.parts[-3], run_dir.parts[-2]  # …/<variant>/<protocol>/seed<N> (RUN_PATH)
        checkpoint, digest = hashed_checkpoint(run_dir)
        run_id = json.loads((run_dir / "metrics.json").read_text()).get("mlflow_run_id", "")
        rows.append({"row": "seed", "dataset": r["dataset"], "backbone": r["backbone"], "method": r["method"],
                     "variant": variant, "protocol": protocol, "seed": r["seed"], "n": 1,
                     **{m: r[m] for m in METRICS if m in r}, "selected_epoch": r.get("selected_epoch"),
                     "checkpoint": checkpoint, "sha256": digest, "run_id": run_id, "run": str(run_dir),
                     "command": rerun_command(run_dir, experiment),
                     "snakemake": shlex.join(["snakemake", "--cores", "1", "--force", str(Path(f))])})
    return pd.DataFrame(rows)


def paper_numbers(tables: Sequence[str | Path]) -> dict[tuple[str, ...], tuple[str, float]]:
    """{(dataset, backbone, method, variant): (metric, paper value)} from the suite's table.csv files
    (each table's first metric; the first table that has a number for the cell wins)."""
    out: dict[tuple[str, ...], tuple[str, float]] = {}
    for path in tables:
        t = pd.read_csv(path)
        metric = next((c[:-len("_mean")] for c in t.columns if c.endswith("_mean")), None)
        if metric is None or f"{metric}_paper" not in t:
            continue
        for r in t.to_dict("records"):
            value = r[f"{metric}_paper"]
            key = (str(r["dataset"]), str(r["backbone"]), str(r["method"]), str(r["variant"]))
            if key not in out and isinstance(value, (int, float)) and not math.isnan(value):
                out[key] = (metric, float(value))
    return out


def cell_rows(seeds: pd.DataFrame, papers: Mapping[tuple[str, ...], tuple[str, float]], boot: Bootstrap) -> pd.DataFrame:
    rows = []
    for key, g in seeds.groupby(list(CELL), sort=False):
        row: dict[str, Any] = {"row": "cell", **dict(zip(CELL, key)), "seed": "", "n": len(g)}
        for m in METRICS:
            if m in g:
                row[f"{m}_mean"], row[f"{m}_std"] = mean_std(g[m])
        row["error_ci_low"], row["error_ci_high"] = mean_ci(list(g[PRIMARY]), boot)
        metric, paper = papers.get(tuple(map(str, key[:4])), ("", math.nan))
        row["paper_metric"], row["paper"] = metric, paper
        if metric and metric != PRIMARY and metric in g:
            row["paper_ci_low"], row["paper_ci_high"] = mean_ci(list(g[metric]), boot)
        else:
            row["paper_ci_low"], row["paper_ci_high"] = row["error_ci_low"], row["error_ci_high"]
        row["verdict"] = verdict(paper, row["paper_ci_low"], row["paper_ci_high"], len(g), boot)
        row["checkpoint"] = " ".join(g["checkpoint"])
        row["run_id"] = " ".join(g["run_id"])
        row["command"] = " ; ".join(g["command"])
        rows.append(row)
    cells = pd.DataFrame(rows)
    cells["_o"] = cells["method"].map(method_order)
    return cells.sort_values(["dataset", "backbone", "variant", "protocol", "_o"]).drop(columns="_o")


PAIRS = (("label2label", "aqn"), ("aqn", "fc_head"), ("label2label", "fc_head"))  # the paper's ordering


def pair_rows(seeds: pd.DataFrame, boot: Bootstrap) -> pd.DataFrame:
    """Two methods of one (dataset, backbone, variant, protocol) on their shared seeds: the mean error
    difference A − B and its paired bootstrap interval over test images (test_image_errors.npy)."""
    import numpy as np

    from l2l.report.intervals import PAIRED_METHOD, paired_image_ci

    rows = []
    for key, g in seeds.groupby(["dataset", "backbone", "variant", "protocol"], sort=False):
        runs = {(r["method"], r["seed"]): Path(r["run"]) / IMAGE_ERRORS for _, r in g.iterrows()}
        for a, b in PAIRS:
            shared = sorted(s for (m, s), f in runs.items() if m == a and f.is_file() and runs.get((b, s), Path("/-")).is_file())
            if not shared:
                continue
            ea = np.stack([np.load(runs[(a, s)]) for s in shared]).astype(np.float64)
            eb = np.stack([np.load(runs[(b, s)]) for s in shared]).astype(np.float64)
            diff, lo, hi = paired_image_ci(ea, eb, boot)
            said = f"{a} lower" if hi < 0 else f"{b} lower" if lo > 0 else "no difference shown"
            rows.append({**dict(zip(["dataset", "backbone", "variant", "protocol"], key)), "a": a, "b": b,
                         "seeds": " ".join(map(str, shared)), "images": ea.shape[1], "error_diff": diff,
                         "ci_low": lo, "ci_high": hi, "reading": said, "method": PAIRED_METHOD})
    return pd.DataFrame(rows)


def pairs_markdown(pairs: pd.DataFrame) -> str:
    if pairs.empty:
        return "\n## Paired differences\n\nNo two methods with test_image_errors.npy on shared seeds.\n"
    rows = [[f"{r['dataset']}/{r['backbone']}/{r['variant']}/{r['protocol']}", f"{r['a']} − {r['b']}", r["seeds"],
             r["images"], f"{r['error_diff']:+.2f}", f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]", r["reading"]]
            for _, r in pairs.iterrows()]
    return ("\n## Paired differences (error, percentage points)\n\n" + pairs["method"].iloc[0].capitalize()
            + ": per test image the error (% of its known labels wrong), averaged over the shared seeds, A − B; "
              "the interval resamples images.\n\n"
            + markdown_table(["group", "A − B", "seeds", "images", "difference", "95 % CI", "reading"], rows))


def to_markdown(cells: pd.DataFrame, seeds: pd.DataFrame, experiment: str) -> str:
    head = ["cell (dataset/backbone/method/variant/protocol)", "n", "error (%)", "95 % CI", "mA (%)", "F1 (%)",
            "paper", "verdict"]
    rows = [["/".join(str(r[c]) for c in CELL), r["n"], fmt(r["error_mean"], r["error_std"]),
             "—" if math.isnan(r["error_ci_low"]) else f"[{r['error_ci_low']:.2f}, {r['error_ci_high']:.2f}]",
             fmt(r.get("mA_mean"), r.get("mA_std")), fmt(r.get("f1_mean"), r.get("f1_std")),
             (f"{r['paper']:.2f} ({r['paper_metric']})" if r["paper_metric"] else "—"), r["verdict"]]
            for _, r in cells.iterrows()]
    seed_head = ["cell", "seed", "error (%)", "checkpoint", "MLflow run", "re-create with"]
    seed_rows_ = [["/".join(str(r[c]) for c in CELL), r["seed"], fmt(r["error"]), f"`{r['checkpoint']}`",
                   f"`{r['run_id']}`", f"`{r['command']}`"] for _, r in seeds.iterrows()]
    return (f"# Model zoo: `{experiment}`\n\nOne row per table cell: test metrics, mean ± std over seeds (sample std), "
            f"the {METHOD} of the error, the paper's number and whether it lies inside our interval (the verdict). "
            "Every checkpoint file name carries the first 8 hex digits of its sha256; `re-create with` trains the "
            "run again from its config.yaml (same seed, same metrics on the same machine and software).\n\n"
            + markdown_table(head, rows) + "\n## Checkpoints, one per seed\n\n" + markdown_table(seed_head, seed_rows_))


def parent_updates(cells: pd.DataFrame) -> list[tuple[list[str], dict[str, float], dict[str, str]]]:
    """What ``l2l.tracking.update_parents`` logs on each cell's parent run: n, mean, std, interval, paper."""
    out = []
    for _, r in cells.iterrows():
        metrics = {"n": float(r["n"]), "error_ci_low": r["error_ci_low"], "error_ci_high": r["error_ci_high"],
                   **{c: r[c] for c in r.index if c.endswith(("_mean", "_std")) and isinstance(r[c], float)}}
        tags = {"verdict": r["verdict"], "bootstrap": METHOD}
        if r["paper_metric"]:
            metrics[f"{r['paper_metric']}_paper"] = r["paper"]
            tags[f"paper.{r['paper_metric']}"] = f"{r['paper']:g}"
        out.append((r["run_id"].split(), metrics, tags))
    return out


def build_zoo(metrics_files: Sequence[str | Path], out_dir: str | Path, experiment: str,
              tables: Sequence[str | Path] = (), boot: Bootstrap = Bootstrap()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write zoo.csv (cell rows, then seed rows), zoo_pairs.csv, zoo.md and zoo.html into ``out_dir``."""
    seeds = seed_rows(metrics_files, experiment)
    cells = cell_rows(seeds, paper_numbers(tables), boot)
    pairs = pair_rows(seeds, boot)
    both = pd.concat([cells, seeds], ignore_index=True)
    with file_set(Path(out_dir)) as stage:
        atomic_write(stage / "zoo.csv", lambda p: both.to_csv(p, index=False))
        atomic_write(stage / "zoo_pairs.csv", lambda p: pairs.to_csv(p, index=False))
        write_text(stage / "zoo.md", to_markdown(cells, seeds, experiment) + pairs_markdown(pairs))
        shown = both[["row", *CELL, "seed", "n", "error_mean", "error_std", "error", "error_ci_low", "error_ci_high",
                      "paper", "verdict", "checkpoint", "run_id", "command"]].round(2)
        write_text(stage / "zoo.html", html_page(f"Model zoo: {experiment}", "Cells (mean ± std, 95 % bootstrap "
                                                 "interval, paper, verdict) then one row per seed (checkpoint "
                                                 "<sha8>, run id, the command that re-creates it).", shown))
    return cells, seeds


def experiment_description(experiment: str, suite: str, protocol: str, tables: Sequence[str | Path]) -> str:
    """What the MLflow experiment holds (shown above its runs in the UI)."""
    names = sorted({Path(t).parent.name for t in tables})
    what = (f"the paper's {', '.join(names)} ({len(names)} tables) on suite `{suite}`" if names
            else "the default grid (`snakemake all`): dataset × backbones × methods × seeds")
    return (f"l2l experiment `{experiment}`: {what}, protocol `{protocol or 'as configured'}`. Each parent run is a "
            f"table cell (dataset / method / backbone / variant / protocol) holding the mean, std, n, 95 % bootstrap "
            f"interval and paper number over its seed runs (its children); every child has its selected checkpoint "
            f"as a logged model and system/... metrics. Tables and the model zoo: results/{experiment}/.")


def update_mlflow(seeds: pd.DataFrame, cells: pd.DataFrame, args: Any) -> None:
    """The cells' aggregates onto their parent runs and the experiment's description, in the runs' store
    (their config.yaml's tracking.uri; MLFLOW_TRACKING_URI wins). A store that is not there is skipped."""
    from l2l.io import read_yaml
    from l2l.tracking import describe_experiment, resolve_uri, sqlite_path, update_parents

    tracking = read_yaml(Path(seeds["run"].iloc[0]) / "config.yaml").get("tracking", {})
    uri = resolve_uri(tracking.get("uri", ""))
    db = sqlite_path(uri)
    if not uri or (db is not None and not db.is_file()):
        print(f"no MLflow store at {uri or '(none)'}: the cells' parent runs are not updated")
        return
    n = update_parents(uri, parent_updates(cells))
    describe_experiment(uri, tracking.get("experiment", args.experiment),
                        experiment_description(args.experiment, args.suite, args.protocol, args.tables))
    print(f"updated {n} parent run(s) in {uri}")
