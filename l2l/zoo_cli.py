"""``l2l zoo``: its parser, without pandas at import (every l2l command builds every parser)."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    """``l2l zoo`` (the zoo rule calls it per experiment)."""
    import argparse

    z = sub.add_parser("zoo", help="the model zoo of an experiment: zoo.md/zoo.csv with hashed checkpoints, "
                                   "run ids, re-create commands; updates the cells' MLflow parent runs",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  l2l zoo --metrics results/embedded_demo/runs/*/*/*/*/*/seed*/metrics.json "
                              "--experiment embedded_demo --out-dir results/embedded_demo\n"
                              "  snakemake --cores 8 all   # the rule `zoo` calls it per experiment (docs/zoo.md)")
    z.add_argument("--metrics", nargs="+", required=True, help="metrics.json of every run of the experiment")
    z.add_argument("--tables", nargs="*", default=[], help="the suite's table.csv files (the paper's numbers)")
    z.add_argument("--experiment", required=True, help="experiment name (results folder, MLflow experiment)")
    z.add_argument("--suite", default="", help="suite name, for the experiment's description")
    z.add_argument("--protocol", default="", help="protocol of the runs, for the experiment's description")
    z.add_argument("--bootstrap-seed", type=int, default=0, help="bootstrap.seed (0)")
    z.add_argument("--bootstrap-samples", type=int, default=10000, help="bootstrap.samples (10000)")
    z.add_argument("--min-seeds", type=int, default=3, help="bootstrap.min_seeds (3)")
    z.add_argument("--out-dir", required=True, help="folder for zoo.md, zoo.csv, zoo.html")
    z.set_defaults(func=cmd_zoo)


def cmd_zoo(args: Any) -> None:
    from l2l.report.intervals import Bootstrap
    from l2l.report.zoo import build_zoo, update_mlflow

    boot = Bootstrap(args.bootstrap_seed, args.bootstrap_samples, args.min_seeds)
    cells, seeds = build_zoo(args.metrics, args.out_dir, args.experiment, args.tables, boot)
    print(f"model zoo of {args.experiment}: {len(cells)} cell(s), {len(seeds)} run(s) → {args.out_dir}/zoo.md")
    update_mlflow(seeds, cells, args)
