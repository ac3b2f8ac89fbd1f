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


def cmd_prepare(args: argparse.Namespace) -> None:
    from l2l.data.prepare import prepare

    extra = {"url": args.source_url} if args.source_url else None
    prepare(args.kind, args.source, args.out, seed=args.seed, extra_source=extra,
            check_decode=args.check_images == "decode", val_fraction=args.val_fraction,
            test_fraction=args.test_fraction, train_size=args.train_size, csv_file=args.csv_file,
            image_column=args.image_column, split_column=args.split_column, name=args.name,
            log=lambda msg: print(msg, flush=True))


def cmd_download(args: argparse.Namespace) -> None:
    from l2l.data.prepare.download import download

    download(args.url, args.out, sha256=args.sha256, retries=args.retries, log=lambda msg: print(msg, flush=True))


def _add_data_parsers(sub) -> None:
    from l2l.data.prepare import KINDS, contents

    what = "\n".join(f"  {k:9s} PATH holds {contents(k)}" for k in KINDS)
    p = sub.add_parser(
        "prepare", help="prepare a real dataset (LFWA, PA-100K, Clothing, your CSV) into the prepared format",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read a dataset as its publisher distributes it (a folder, or a zip/tar archive of it) and "
                    "write DIR: labels.csv, meta.yaml and the images (a link to PATH, or the extracted "
                    "archive). DIR is written atomically: on any error nothing is left behind.\n\n"
                    f"What PATH must contain:\n{what}",
        epilog="example: l2l prepare csv --source my_photos --out results/datasets/mine --seed 0")
    p.add_argument("kind", choices=KINDS, help="dataset format")
    p.add_argument("--source", required=True, metavar="PATH", help="folder or archive as distributed")
    p.add_argument("--out", required=True, metavar="DIR", help="prepared-dataset folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed of every split this command makes (default 0)")
    p.add_argument("--val-fraction", type=float, help="share of train moved to val (lfwa 0.1, csv 0.1, clothing 0)")
    p.add_argument("--test-fraction", type=float, help="csv without split column: share to test (0.2)")
    p.add_argument("--train-size", type=int, help="clothing: images in train, the rest test (1500)")
    p.add_argument("--csv-file", help="csv: CSV file inside PATH (labels.csv)")
    p.add_argument("--image-column", help="csv: image column (image)")
    p.add_argument("--split-column", help="csv: optional split column (split)")
    p.add_argument("--name", help="csv: dataset name in meta.yaml (custom)")
    p.add_argument("--check-images", choices=["decode", "exists"], default="decode",
                   help="decode every image (default) or only check it exists")
    p.add_argument("--source-url", help="URL the source was downloaded from (recorded in meta.yaml)")
    p.set_defaults(func=cmd_prepare)

    d = sub.add_parser("download", help="download a file: resumable, sha256-checked, atomic",
                       epilog="example: l2l download --url https://host/data.zip --out results/downloads/x/data.zip")
    d.add_argument("--url", required=True)
    d.add_argument("--out", required=True, help="file to write (a .part file holds an unfinished download)")
    d.add_argument("--sha256", help="expected sha256; a mismatch deletes the file and fails")
    d.add_argument("--retries", type=int, default=3, help="resume attempts after a dropped connection")
    d.set_defaults(func=cmd_download)


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
    _add_data_parsers(sub)
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
