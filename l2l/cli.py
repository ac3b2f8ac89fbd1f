"""The ``l2l`` command: what Snakemake rules call, and what users can run by hand."""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Sequence

from l2l.errors import Preempted, UserError


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

    if args.config_json:
        data = json.loads(args.config_json)
    elif args.config:
        data = _read_config(args.config)
    else:
        data = {}
    cfg = with_overrides(resolve(data), args.set or [])
    train(cfg, args.out, tags=_kv(args.tag), log=lambda msg: print(msg, flush=True))


def _read_config(path: str) -> dict:
    import yaml

    from l2l.io import read_yaml

    try:
        data = read_yaml(path) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({' '.join(str(e).split())}); fix the file") from e
    if not isinstance(data, dict):
        raise UserError(f"{path}: a run config must be a mapping of keys (method, model, train, ...)")
    return data


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


def _os_error(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    fix = {errno.ENOENT: "check the path", errno.ENOSPC: "free space there, then re-run",
           errno.EDQUOT: "free space (quota) there, then re-run"}.get(e.errno, "check permissions there, then re-run")
    return f"{where}{e.strerror or e}; {fix}"


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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as e:
        print(f"l2l {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a missing input, or a folder that cannot be created: still one line
        print(f"l2l {args.command}: error: {_os_error(e)}", file=sys.stderr)
        return 2
    except Preempted as e:
        print(f"l2l {args.command}: preempted: {e}", file=sys.stderr)
        return 128 + e.signum  # the shell's "killed by signal" code: schedulers count it as a failure and retry
    return 0


if __name__ == "__main__":
    sys.exit(main())
