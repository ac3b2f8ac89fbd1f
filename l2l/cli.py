"""The ``l2l`` command: what Snakemake rules call, and what users can run by hand."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from l2l.errors import UserError


def _kv(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"'{item}' is not key=value")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def cmd_generate(args: argparse.Namespace) -> None:
    from l2l.data.embedded import generate

    generate(args.out, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
             image_size=args.image_size, seed=args.seed, progress=sys.stderr.isatty())
    print(f"embedded dataset written to {args.out}")


def cmd_train(args: argparse.Namespace) -> None:
    from l2l.config import resolve, with_overrides
    from l2l.engine import train
    from l2l.io import read_yaml

    if args.config_json:
        data = json.loads(args.config_json)
    elif args.config:
        data = read_yaml(args.config) or {}
    else:
        data = {}
    cfg = with_overrides(resolve(data), args.set or [])
    train(cfg, args.out, tags=_kv(args.tag), log=lambda msg: print(msg, flush=True))


def cmd_init_tracking(args: argparse.Namespace) -> None:
    from l2l.io import write_json
    from l2l.tracking import ensure_experiment, resolve_uri

    uri = resolve_uri(args.uri)
    exp_id = ensure_experiment(uri, args.experiment)
    if args.out:
        write_json(args.out, {"tracking_uri": uri, "experiment": args.experiment, "experiment_id": exp_id})
    print(f"MLflow experiment '{args.experiment}' (id {exp_id}) at {uri}")


def cmd_aggregate(args: argparse.Namespace) -> None:
    from l2l.aggregate import aggregate

    summary = aggregate(args.metrics, args.out_dir)
    print(summary.to_string(index=False))


def cmd_macs(args: argparse.Namespace) -> None:
    from l2l.io import write_json
    from l2l.macs import model_macs

    if args.num_attributes is None:
        if not args.dataset:
            raise UserError("give --num-attributes M or --dataset DIR (a prepared dataset)")
        from l2l.data import load_prepared

        args.num_attributes = len(load_prepared(args.dataset, check_images=False).attributes)
    try:
        result = model_macs(args.method, args.backbone, args.height, args.width, args.num_attributes,
                            aqn_layers=args.layers, mlm_layers=args.mlm_layers, ffn_dim=args.ffn_dim,
                            num_heads=args.num_heads)
    except (ValueError, AssertionError, RuntimeError) as e:
        raise UserError(f"cannot count {args.method} on {args.backbone} at {args.height}x{args.width}: {e}") from e
    if args.out:
        write_json(args.out, result)
    print(json.dumps(result, sort_keys=True))


def cmd_table(args: argparse.Namespace) -> None:
    from l2l.tables import build_table

    plan = json.loads(args.plan_json)
    summary = build_table(plan, args.paper, args.out_dir, args.macs or [])
    print(summary.to_string(index=False))


def cmd_attention(args: argparse.Namespace) -> None:
    from l2l.attention import write_attention

    paths = write_attention(args.run, args.samples, args.out_dir, args.layer, args.head, args.split)
    if args.log_mlflow:
        from pathlib import Path

        from l2l.io import read_yaml
        from l2l.tracking import log_artifacts_to_run, resolve_uri

        metrics = json.loads((Path(args.run) / "metrics.json").read_text())
        uri = read_yaml(Path(args.run) / "config.yaml")["tracking"]["uri"]
        log_artifacts_to_run(resolve_uri(uri), metrics["mlflow_run_id"], paths, "attention")
    print("\n".join(str(p) for p in paths))


def _add_macs(sub) -> None:
    m = sub.add_parser("macs", help="multiply-accumulates per image: paper convention and full count",
                       epilog="example: l2l macs --method label2label --backbone resnet50 --height 250 "
                              "--width 250 --num-attributes 40 --layers 1 --mlm-layers 2")
    m.add_argument("--method", required=True)
    m.add_argument("--backbone", required=True)
    m.add_argument("--height", type=int, required=True)
    m.add_argument("--width", type=int, required=True)
    m.add_argument("--num-attributes", type=int, help="M (or give --dataset)")
    m.add_argument("--dataset", help="prepared dataset folder to read M from")
    m.add_argument("--layers", type=int, default=1, help="L, AQN decoder layers")
    m.add_argument("--mlm-layers", type=int, default=2, help="D, IC-MLM decoder layers")
    m.add_argument("--ffn-dim", type=int, default=2048)
    m.add_argument("--num-heads", type=int, default=4)
    m.add_argument("--out", help="also write the JSON here")
    m.set_defaults(func=cmd_macs)


def _add_table(sub) -> None:
    t = sub.add_parser("table", help="one paper table from its runs: ours, paper, delta, paired stats, plots")
    t.add_argument("--plan-json", required=True, help="the planned table (cells and run folders; Snakemake passes it)")
    t.add_argument("--paper", required=True, help="paper numbers YAML (config/paper_numbers.yaml)")
    t.add_argument("--macs", nargs="*", help="JSON files of l2l macs (Table 5)")
    t.add_argument("--out-dir", required=True)
    t.set_defaults(func=cmd_table)


def _add_attention(sub) -> None:
    a = sub.add_parser("attention", help="IC-MLM self-attention among attributes as heatmaps (paper Fig. 3)",
                       epilog="example: l2l attention --run RUN_DIR --samples 0 1 --out-dir figs")
    a.add_argument("--run", required=True, help="a finished label2label or icmlm_2stage run folder")
    a.add_argument("--samples", type=int, nargs="+", default=[0, 1], help="indices within --split")
    a.add_argument("--split", default="test")
    a.add_argument("--layer", type=int, default=1, help="IC-MLM decoder layer, 1-based (paper: 1)")
    a.add_argument("--head", type=int, default=1, help="attention head, 1-based (paper: the first)")
    a.add_argument("--out-dir", required=True)
    a.add_argument("--log-mlflow", action="store_true",
                   help="attach the PNGs to the run's MLflow run (store from its config.yaml; MLFLOW_TRACKING_URI wins)")
    a.set_defaults(func=cmd_attention)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="l2l", description="Label2Label benchmark pipeline: data, training, tables.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="write the embedded (generated) multi-attribute dataset",
                       epilog="example: l2l generate --out results/datasets/embedded --seed 0")
    g.add_argument("--out", required=True, help="folder to write (prepared-dataset format)")
    g.add_argument("--n-train", type=int, default=3000)
    g.add_argument("--n-val", type=int, default=500)
    g.add_argument("--n-test", type=int, default=1000)
    g.add_argument("--image-size", type=int, default=32)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("train", help="train and evaluate one run, logged to MLflow",
                       epilog="example: l2l train --out runs/demo --set method=aqn "
                              "--set data.path=results/datasets/embedded --set train.epochs=5")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--config", help="run config YAML (keys of l2l.config.RunConfig)")
    src.add_argument("--config-json", help="run config as a JSON string (what Snakemake passes)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. model.mask_ratio=0.2")
    t.add_argument("--tag", action="append", metavar="KEY=VALUE", help="extra MLflow tag (e.g. wildcards)")
    t.add_argument("--out", required=True, help="run folder")
    t.set_defaults(func=cmd_train)

    i = sub.add_parser("init-tracking", help="create the MLflow store and experiment once, before parallel jobs")
    i.add_argument("--uri", required=True, help="tracking URI (MLFLOW_TRACKING_URI wins)")
    i.add_argument("--experiment", required=True)
    i.add_argument("--out", help="JSON file recording the experiment id")
    i.set_defaults(func=cmd_init_tracking)

    a = sub.add_parser("aggregate", help="mean±std tables and a plot from run folders")
    a.add_argument("--metrics", nargs="+", required=True, help="metrics.json files of the runs")
    a.add_argument("--out-dir", required=True)
    a.set_defaults(func=cmd_aggregate)
    for add in (_add_macs, _add_table, _add_attention):
        add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as e:
        print(f"l2l {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
