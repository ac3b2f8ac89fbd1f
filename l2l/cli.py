"""The ``l2l`` command: what Snakemake rules call, and what users can run by hand."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from l2l import __version__
from l2l.errors import Preempted, UserError
from l2l.logs import job_logger
from l2l.protocols import DEFAULT_PROTOCOL, protocol_names
from l2l.plan.experiment import add_experiment_options


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error that names the fix (``--help``) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


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
             image_size=args.image_size, seed=args.seed, progress=sys.stderr.isatty(),
             log=job_logger(args.command))
    print(f"embedded dataset written to {args.out}")


def _run_config(args: argparse.Namespace):
    """The RunConfig of --config / --config-json with --set overrides, checked by the one schema."""
    from l2l.config import resolve, with_overrides
    from l2l.io import read_mapping

    if getattr(args, "config_json", None):
        try:
            data = json.loads(args.config_json)
        except json.JSONDecodeError as e:
            raise UserError(f"--config-json is not valid JSON ({e}); pass the run config as JSON") from e
        source = "--config-json"
    elif getattr(args, "config", None):
        data, source = read_mapping(args.config, "a run config"), args.config
    else:
        data, source = {}, ""  # --set only: the message names the key
    return with_overrides(resolve(data, source), getattr(args, "set", None) or [])


def _add_run_config_options(p: argparse.ArgumentParser) -> None:
    """--config / --config-json / --set: a run config as `l2l train` and `l2l macs` read it (:func:`_run_config`)."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", help="run config YAML (keys of l2l.config.RunConfig)")
    src.add_argument("--config-json", help="run config as a JSON string (what Snakemake passes)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. model.mask_ratio=0.2")


def cmd_train(args: argparse.Namespace) -> None:
    cfg = _run_config(args)  # a bad config fails before torch is imported
    from l2l.engine import train
    from l2l.gpu_lease import lease_for_run

    log = job_logger("train")
    with lease_for_run(cfg.train.device, args.runs_per_gpu, owner=args.out, log=log):  # held while it trains
        train(cfg, args.out, tags=_kv(args.tag), log=log, progress=sys.stderr.isatty())


def cmd_resolve(args: argparse.Namespace) -> None:
    """Print the resolved run config of one grid point, from the same config files Snakemake reads."""
    from l2l.plan import Planner, Run, folder_templates
    from l2l.plan.experiment import experiment_from_args

    config = experiment_from_args(args)
    run_dir, dataset_dir = folder_templates(config["results_dir"])
    planner = Planner(config, run_dir.format, dataset_dir.format)
    if args.dataset not in config["datasets"]:
        raise UserError(f"dataset '{args.dataset}' is not a key of datasets ({', '.join(config['datasets'])})")
    run = Run(args.dataset, args.backbone, args.method, args.variant, args.protocol or planner.protocol(), args.seed,
              config["experiment"])
    print(json.dumps(planner.resolved(run), indent=2, sort_keys=True))


def cmd_init_tracking(args: argparse.Namespace) -> None:
    from l2l.io import write_json
    from l2l.tracking import ensure_experiment, resolve_uri

    uri = resolve_uri(args.uri)
    exp_id = ensure_experiment(uri, args.experiment)
    if args.out:
        write_json(args.out, {"tracking_uri": uri, "experiment": args.experiment, "experiment_id": exp_id})
    print(f"MLflow experiment '{args.experiment}' (id {exp_id}) at {uri}")


def cmd_aggregate(args: argparse.Namespace) -> None:
    from l2l.report.aggregate import aggregate

    summary = aggregate(args.metrics, args.out_dir)
    print(summary.to_string(index=False))


def cmd_prepare(args: argparse.Namespace) -> None:
    from l2l.data.prepare import prepare

    url = _url_arg(args.source_url, args.source_url_file)
    extra = {"url": url} if url else None
    prepare(args.kind, args.source, args.out, seed=args.seed, extra_source=extra,
            check_decode=args.check_images == "decode", val_fraction=args.val_fraction,
            test_fraction=args.test_fraction, train_size=args.train_size, csv_file=args.csv_file,
            image_column=args.image_column, split_column=args.split_column, name=args.name,
            attributes=args.attributes, partition=args.partition, uncertain=args.uncertain,
            log=job_logger(args.command))


def cmd_download(args: argparse.Namespace) -> None:
    from l2l.data.prepare.download import download

    url = _url_arg(args.url, args.url_file)
    if not url:
        raise UserError("give --url or --url-file (a file holding the URL)")
    download(url, args.out, sha256=args.sha256, retries=args.retries, log=job_logger(args.command))


def cmd_standin(args: argparse.Namespace) -> None:
    """A tiny stand-in of a paper dataset in its real file format (the rehearsal's source, docs/rehearsal.md)."""
    from l2l.data.standins import write_standin

    write_standin(args.kind, args.out, args.seed)
    print(f"stand-in {args.kind} written to {args.out}")


def _url_arg(url: str | None, url_file: str | None) -> str | None:
    """A URL given inline or in a file: the workflow passes a file, so a token in the URL's query never
    appears in a printed shell command or Snakemake's log."""
    if url_file:
        text = Path(url_file).read_text().strip()
        if not text:
            raise UserError(f"{url_file}: empty; it should hold the download URL")
        return text
    return url


def _add_data_parsers(sub) -> None:
    from l2l.data.prepare import KINDS, contents
    from l2l.data.standins import REHEARSAL_WRITERS

    what = "\n".join(f"  {k:9s} PATH holds {contents(k)}" for k in KINDS)
    p = sub.add_parser(
        "prepare", help="prepare a real dataset (LFWA, PA-100K, Clothing, your CSV) into the prepared format",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read a dataset as its publisher distributes it (a folder, or a zip/tar archive of it) and "
                    "write DIR: labels.csv, meta.yaml and the images (a link to PATH, or the extracted "
                    "archive). DIR is written atomically: on any error nothing is left behind.\n\n"
                    f"What PATH must contain:\n{what}",
        epilog=_examples("l2l prepare csv --source my_photos --out results/datasets/mine --seed 0",
                         "l2l prepare pa100k --source ~/data/PA-100K --out results/datasets/pa100k"))
    p.add_argument("kind", choices=KINDS, help="dataset format")
    p.add_argument("--source", required=True, metavar="PATH", help="folder or archive as distributed")
    p.add_argument("--out", required=True, metavar="DIR", help="prepared-dataset folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed of every split this command makes (default 0)")
    p.add_argument("--val-fraction", type=float, help="share of train moved to val (lfwa 0.1, csv 0.1, clothing 0, rapv1 0.1 of trainval)")
    p.add_argument("--test-fraction", type=float, help="csv without split column: share to test (0.2)")
    p.add_argument("--train-size", type=int, help="clothing: images in train, the rest test (1500)")
    p.add_argument("--csv-file", help="csv: CSV file inside PATH (labels.csv)")
    p.add_argument("--image-column", help="csv: image column (image)")
    p.add_argument("--split-column", help="csv: optional split column (split)")
    p.add_argument("--name", help="csv: dataset name in meta.yaml (custom)")
    p.add_argument("--attributes", choices=["eval", "all"],
                   help="peta, rap*, *zs: the field's evaluated subset in official order (eval, default) or all")
    p.add_argument("--partition", type=int, help="peta, rapv1, rapv2: which official partition gives the splits (0)")
    p.add_argument("--uncertain", choices=["unknown", "zero"],
                   help="rap*, peta*: label 2 (uncertain) becomes unknown, excluded from loss and metrics "
                        "(default), or 0 as Rethinking_of_PAR does")
    p.add_argument("--check-images", choices=["decode", "exists"], default="decode",
                   help="decode every image (default) or only check it exists")
    p.add_argument("--source-url", help="URL the source was downloaded from (recorded in meta.yaml, query redacted)")
    p.add_argument("--source-url-file", help="a file holding that URL (what the workflow passes)")
    p.set_defaults(func=cmd_prepare)

    s = sub.add_parser("standin", help="write a tiny stand-in of a paper dataset in its real file format (rehearsal)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_examples("l2l standin lfwa --out /tmp/lfwa && l2l prepare lfwa --source /tmp/lfwa --out /tmp/p"))
    s.add_argument("kind", choices=sorted(REHEARSAL_WRITERS), help="dataset format")
    s.add_argument("--out", required=True, metavar="DIR", help="folder to write (replaced if it exists)")
    s.add_argument("--seed", type=int, default=0, help="seed of the images and labels (default 0)")
    s.set_defaults(func=cmd_standin)

    d = sub.add_parser("download", help="download a file: resumable, sha256-checked, atomic",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_examples("l2l download --url https://host/data.zip --out results/downloads/x/data.zip"))
    url = d.add_mutually_exclusive_group(required=True)
    url.add_argument("--url", help="the URL (a token in its query is never logged)")
    url.add_argument("--url-file", help="a file holding the URL (what the workflow passes, so no shell command shows it)")
    d.add_argument("--out", required=True, help="file to write (a .part file holds an unfinished download)")
    d.add_argument("--sha256", help="expected sha256; a mismatch deletes the file and fails")
    d.add_argument("--retries", type=int, default=3, help="resume attempts after a dropped connection")
    d.set_defaults(func=cmd_download)


def _run_folder(ref: str, uri: str | None) -> str:
    """A run folder as given, or one fetched from MLflow for ``runs:/<id>`` / a bare run id."""
    import os

    from l2l.tracking import fetch_run, is_run_ref, resolve_uri

    if Path(ref).is_dir() or not is_run_ref(ref):
        return ref
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "l2l" / "runs" / ref.rstrip("/")[-32:]
    return str(fetch_run(uri or resolve_uri("sqlite:///results/mlflow.db"), ref, cache))


def cmd_predict(args: argparse.Namespace) -> None:
    from l2l.predict import run_predict

    preds = run_predict(_run_folder(args.run, args.uri), args.images, args.out, on_error=args.on_error,
                        threshold=args.threshold, device=args.device)
    print(f"{len(preds.table)} image(s) predicted → {args.out}"
          + (f" ({len(preds.skipped)} skipped)" if preds.skipped else ""))


def add_predict(sub) -> None:
    r = sub.add_parser("predict", help="per-image attribute probabilities and 0/1 decisions from a trained run",
                       description="Predict every attribute of new images with a trained run (its model.pt\n"
                                   "and config.yaml; same preprocessing as its test split).\n"
                                   "Output CSV columns: image, then for every attribute in the dataset's order\n"
                                   "<attr>_prob (sigmoid of the final head) and <attr>_pred (1 if prob > threshold).",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l predict --run results/embedded_demo/runs/embedded/small_cnn/label2label/base/clean/seed0 \\",
                           "    --images results/datasets/embedded/images --out preds.csv",
                           "l2l predict --run RUN_DIR --images 'photos/*.jpg' --out preds.csv --on-error fail",
                           "l2l predict --run runs:/<mlflow run id> --images photos --out preds.csv"))
    r.add_argument("--run", required=True, help="run folder holding model.pt and config.yaml, or an MLflow run: "
                                                 "runs:/<run id> (or the bare id), fetched from --uri")
    r.add_argument("--uri", help="MLflow tracking URI for --run runs:/<id> (default: MLFLOW_TRACKING_URI, "
                                 "else sqlite:///results/mlflow.db)")
    r.add_argument("--images", required=True, help="a folder (searched recursively), a quoted glob, or one file")
    r.add_argument("--out", required=True, help="CSV to write")
    r.add_argument("--on-error", choices=("skip", "fail"), default="skip",
                   help="unreadable image: skip it and list it on stderr and in <out>.skipped.csv (default), "
                        "or stop with an error")
    r.add_argument("--threshold", type=float, default=0.5, help="decision threshold on the probability (0.5)")
    r.add_argument("--device", default="cpu", help="torch device, e.g. cuda:0 (default cpu)")
    r.set_defaults(func=cmd_predict)


def cmd_cache(args: argparse.Namespace) -> None:
    from l2l.data import load_prepared
    from l2l.data.cache import build_cache
    from l2l.data.format import SPLITS

    data = load_prepared(args.data)
    splits = args.split or [s for s in SPLITS if len(data.indices(s))]
    for split in splits:
        if not len(data.indices(split)):
            raise UserError(f"{data.root / 'labels.csv'}: split '{split}' has no images; choose one of "
                            f"{', '.join(s for s in SPLITS if len(data.indices(s)))}")
        path = build_cache(data, split, args.image_size, force=args.force)
        print(f"{split}: {len(data.indices(split))} images cached in {path}")


def add_cache_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("cache", help="decode and resize a prepared dataset once into uint8 arrays (data.cache)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_examples("l2l cache --data results/datasets/embedded --image-size 32 32"))
    c.add_argument("--data", required=True, help="prepared-dataset folder")
    c.add_argument("--image-size", type=int, nargs=2, required=True, metavar=("H", "W"), help="network input size")
    c.add_argument("--split", action="append", help="split to cache (repeatable; default: every non-empty split)")
    c.add_argument("--force", action="store_true", help="rebuild even if the cache is valid")
    c.set_defaults(func=cmd_cache)


def _os_error(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    fix = {errno.ENOENT: "check the path", errno.ENOSPC: "free space there, then re-run",
           errno.EDQUOT: "free space (quota) there, then re-run"}.get(e.errno, "check permissions there, then re-run")
    return f"{where}{e.strerror or e}; {fix}"
def cmd_macs(args: argparse.Namespace) -> None:
    from l2l.config import ModelConfig
    from l2l.io import write_json
    from l2l.macs import config_macs, model_macs

    if args.config or args.config_json:
        cfg = _run_config(args)
        result = config_macs(cfg, args.num_attributes)
        if args.out:
            write_json(args.out, result)
        print(json.dumps(result, sort_keys=True))
        return
    if not (args.method and args.backbone and args.height and args.width):
        raise UserError("give a run config (--config / --config-json, what the pipeline passes) or "
                        "--method, --backbone, --height and --width")
    if args.num_attributes is None:
        if not args.dataset:
            raise UserError("give --num-attributes M or --dataset DIR (a prepared dataset)")
        from l2l.data import load_prepared

        args.num_attributes = len(load_prepared(args.dataset, check_images=False).attributes)
    try:
        defaults = ModelConfig()  # an option left out: the config's default
        sizes = {k: getattr(defaults, k) if getattr(args, k) is None else getattr(args, k)
                 for k in ("aqn_layers", "mlm_layers", "ffn_dim", "num_heads")}
        result = model_macs(args.method, args.backbone, args.height, args.width, args.num_attributes, **sizes)
    except (ValueError, AssertionError, RuntimeError) as e:
        raise UserError(f"cannot count {args.method} on {args.backbone} at {args.height}x{args.width}: {e}") from e
    if args.out:
        write_json(args.out, result)
    print(json.dumps(result, sort_keys=True))


def cmd_table(args: argparse.Namespace) -> None:
    from l2l.report.paper import build_table

    plan = json.loads(args.plan_json)
    summary = build_table(plan, args.paper, args.out_dir, args.macs or [])
    print(summary.to_string(index=False))


def cmd_reproduction(args: argparse.Namespace) -> None:
    from l2l.report.reproduction import table_names, write_summary

    cells = write_summary(table_names(args.tables), args.out_dir, args.suite, args.protocol or "")
    print(f"reproduction summary of {len(args.tables)} table(s), {len(cells)} cell(s) → {args.out_dir}")


def _add_reproduction(sub) -> None:
    r = sub.add_parser("reproduction", help="the Reproduction summary: which paper numbers a suite reproduced",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l reproduction --tables results/ablations/tables/*/table.csv --suite ablations "
                           "--out-dir results/ablations/tables",
                           "snakemake --cores 8 ablations   # the rule `reproduction_summary` calls it per suite"))
    r.add_argument("--tables", nargs="+", required=True, help="table.csv of every table (…/<table>/table.csv)")
    r.add_argument("--suite", required=True, help="suite name (printed in the summary)")
    r.add_argument("--protocol", help="protocol of the suite's runs (printed in the summary)")
    r.add_argument("--out-dir", required=True, help="folder for reproduction_summary.{md,html,csv}")
    r.set_defaults(func=cmd_reproduction)


def cmd_attention(args: argparse.Namespace) -> None:
    from l2l.attention import write_attention

    paths = write_attention(args.run, args.samples, args.out_dir, args.layer, args.head, args.split)
    if args.log_mlflow:
        from l2l.io import read_yaml
        from l2l.tracking import log_artifacts_to_run, resolve_uri

        metrics = json.loads((Path(args.run) / "metrics.json").read_text())
        uri = read_yaml(Path(args.run) / "config.yaml")["tracking"]["uri"]
        log_artifacts_to_run(resolve_uri(uri), metrics["mlflow_run_id"], paths, "attention")
    print("\n".join(str(p) for p in paths))


def _add_macs(sub) -> None:
    m = sub.add_parser("macs", help="multiply-accumulates per image: paper convention and full count",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l macs --config results/embedded_demo/runs/embedded/small_cnn/aqn/base/clean/seed0/"
                           "config.yaml    # the run's own config (M from its data.path)",
                           "l2l macs --method label2label --backbone resnet50 --height 250 --width 250 "
                           "--num-attributes 40 --aqn-layers 1 --mlm-layers 2"))
    _add_run_config_options(m)  # the model the run config builds is counted
    m.add_argument("--method")
    m.add_argument("--backbone")
    m.add_argument("--height", type=int)
    m.add_argument("--width", type=int)
    m.add_argument("--num-attributes", type=int, help="M (default: from the run config's data.path or --dataset)")
    m.add_argument("--dataset", help="prepared dataset folder to read M from")
    m.add_argument("--aqn-layers", "--layers", type=int, help="L, AQN decoder layers (model.aqn_layers)")
    m.add_argument("--mlm-layers", type=int, help="D, IC-MLM decoder layers (model.mlm_layers)")
    m.add_argument("--ffn-dim", type=int, help="model.ffn_dim")
    m.add_argument("--num-heads", type=int, help="model.num_heads")
    m.add_argument("--out", help="also write the JSON here")
    m.set_defaults(func=cmd_macs)


def _add_table(sub) -> None:
    t = sub.add_parser("table", help="one paper table from its runs: ours, paper, delta, paired stats, plots",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "snakemake --cores 8 table5      # the rule `table` calls l2l table with the planned cells"))
    t.add_argument("--plan-json", required=True, help="the planned table (cells and run folders; Snakemake passes it)")
    t.add_argument("--paper", required=True, help="paper numbers YAML (config/paper_numbers.yaml)")
    t.add_argument("--macs", nargs="*", help="JSON files of l2l macs (Table 5)")
    t.add_argument("--out-dir", required=True)
    t.set_defaults(func=cmd_table)


def _add_attention(sub) -> None:
    a = sub.add_parser("attention", help="IC-MLM self-attention among attributes as heatmaps (paper Fig. 3)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=_examples("l2l attention --run RUN_DIR --samples 0 1 --out-dir figs"))
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
    p = _Parser(prog="l2l", description="Label2Label benchmark pipeline: data, training, tables.",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Run `l2l COMMAND --help` for a command's options and examples.\n"
                       "The whole benchmark runs through Snakemake: `snakemake --cores 8 all`.")
    p.add_argument("--version", action="version", version=f"l2l {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="write the embedded (generated) multi-attribute dataset",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l generate --out results/datasets/embedded --seed 0",
                           "l2l generate --out /tmp/small --n-train 300 --n-val 50 --n-test 100 --image-size 48"))
    g.add_argument("--out", required=True, help="folder to write (prepared-dataset format)")
    g.add_argument("--n-train", type=int, default=3000, help="training images (3000)")
    g.add_argument("--n-val", type=int, default=500, help="validation images (500)")
    g.add_argument("--n-test", type=int, default=1000, help="test images (1000)")
    g.add_argument("--image-size", type=int, default=32, help="image side in pixels (32)")
    g.add_argument("--seed", type=int, default=0, help="generator seed: same seed, same files (0)")
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("train", help="train and evaluate one run, logged to MLflow",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l train --out runs/demo --set method=aqn "
                           "--set data.path=results/datasets/embedded --set train.epochs=5",
                           "l2l train --config results/embedded_demo/runs/embedded/small_cnn/fc_head/base/clean/seed0/"
                           "config.yaml --out /tmp/rerun    # reproduce a run",
                           "l2l train --out runs/gpu --set data.path=results/datasets/embedded "
                           "--set train.device=cuda:0"))
    _add_run_config_options(t)
    t.add_argument("--tag", action="append", metavar="KEY=VALUE", help="extra MLflow tag (e.g. wildcards)")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--runs-per-gpu", type=int, default=1, metavar="K",
                   help="train.device auto/cuda on a machine with GPUs: lease one of K slots of the least-loaded "
                        "GPU, waiting while all are taken (resources.runs_per_gpu; default 1; see l2l/gpu_lease.py)")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("resolve", help="print the resolved run config of one grid point (JSON), as Snakemake plans it",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l resolve --dataset lfwa --backbone resnet50 --method label2label --protocol official",
                           "l2l resolve --dataset embedded --method aqn --variant mlm_layers=3 --config seeds='[0,1]'"))
    r.add_argument("--dataset", required=True, help="a key of datasets")
    r.add_argument("--backbone", default="small_cnn")
    r.add_argument("--method", default="label2label")
    r.add_argument("--variant", default="base", help="canonical variant name, e.g. mlm_layers=3 (default base)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--protocol", choices=protocol_names(), help=f"default: config protocol, else {DEFAULT_PROTOCOL}")
    add_experiment_options(r)
    r.set_defaults(func=cmd_resolve)

    i = sub.add_parser("init-tracking", help="create the MLflow store and experiment once, before parallel jobs",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l init-tracking --uri sqlite:///results/mlflow.db --experiment embedded_demo",
                           "l2l init-tracking --uri http://127.0.0.1:5000 --experiment demo --out exp.json"))
    i.add_argument("--uri", required=True, help="tracking URI (MLFLOW_TRACKING_URI wins)")
    i.add_argument("--experiment", required=True, help="MLflow experiment name")
    i.add_argument("--out", help="JSON file recording the experiment id")
    i.set_defaults(func=cmd_init_tracking)

    a = sub.add_parser("aggregate", help="mean±std tables and a plot from run folders",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_examples(
                           "l2l aggregate --metrics results/embedded_demo/runs/*/*/*/*/*/seed*/metrics.json "
                           "--out-dir /tmp/tables"))
    a.add_argument("--metrics", nargs="+", required=True, help="metrics.json files of the runs")
    a.add_argument("--out-dir", required=True, help="folder for table.md, table.csv, runs.csv, error.png")
    a.set_defaults(func=cmd_aggregate)
    _add_data_parsers(sub)
    add_predict(sub)
    from l2l.zoo_cli import add_parser as add_zoo

    add_zoo(sub)
    add_cache_parser(sub)
    for add in (_add_macs, _add_table, _add_reproduction, _add_attention):
        add(sub)
    from l2l import preflight, weights
    from l2l.report import attributes, overview

    weights.add_parser(sub)
    preflight.add_parser(sub)
    attributes.add_parser(sub)  # per-attribute tables (every suite) and a suite's overview (field): issue 25
    overview.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as e:
        print(f"l2l {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `l2l resolve ... | head`: the reader left; say nothing (Python docs, "SIGPIPE")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1
    except OSError as e:  # a missing input, or a folder that cannot be created: still one line
        print(f"l2l {args.command}: error: {_os_error(e)}", file=sys.stderr)
        return 2
    except Preempted as e:
        print(f"l2l {args.command}: preempted: {e}", file=sys.stderr)
        return 128 + e.signum  # the shell's "killed by signal" code: schedulers count it as a failure and retry
    return 0


if __name__ == "__main__":
    sys.exit(main())
