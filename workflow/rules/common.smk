# Helpers shared by the rules: config validation, paths, the resolved config of each run.
import json
import os
import shlex
from argparse import Namespace

from snakemake.utils import validate

from l2l.config import METHODS, TWO_STAGE_METHODS
from l2l.gpu_lease import gpus_per_job
from l2l.variants import nested, parse_variant, stage_one_variant, variant_name


validate(config, schema="../schemas/config.schema.yaml")

RESULTS = config["results_dir"]
EXPERIMENT = config["experiment"]
EXP_DIR = f"{RESULTS}/{EXPERIMENT}"
LOGS = f"{EXP_DIR}/logs"
DATASET_DIR = f"{RESULTS}/datasets/{{dataset}}"
RUN_DIR = f"{EXP_DIR}/runs/{{dataset}}/{{backbone}}/{{method}}/{{variant}}/seed{{seed}}"
TRACKING_MARKER = f"{EXP_DIR}/mlflow_experiment.json"

if config["dataset"] not in config["datasets"]:
    raise ValueError(
        f"config: dataset '{config['dataset']}' is not a key of datasets "
        f"({', '.join(config['datasets'])}); add it there or pick one of those"
    )


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    method="|".join(METHODS),
    seed=r"\d+",
    variant=r"[A-Za-z0-9_.,=-]+",


def datasets_of_source(source):
    """Regex alternation of the dataset names with this source (constrains a dataset rule's wildcard)."""
    names = [n for n, d in config["datasets"].items() if d["source"] == source]
    return "|".join(names) if names else "^$"


def dataset_meta(wildcards):
    return f"{RESULTS}/datasets/{wildcards.dataset}/meta.yaml"


def variant_overrides(variant):
    """Variant name -> nested overrides of the run config. 'base' is the config as written; other
    names are canonical `key=value,...` lists (l2l/variants.py), e.g. `mlm_layers=3`."""
    return nested(parse_variant(variant))


def base_run_config(dataset):
    """The shared model/train/data settings with the dataset's recipe: what variant names are relative to."""
    cfg = {"model": config["model"], "train": config["train"], "data": config["data"]}
    return _merge(cfg, config["recipes"].get(dataset, {}))


def stage_one_run(wildcards):
    """Run folder of the AQN run a two-stage method (Table 7) refines: same dataset, backbone, seed, and
    variant without the MLM-only keys. This is the DAG edge AQN -> two-stage refiner."""
    variant = stage_one_variant(wildcards.variant, base_run_config(wildcards.dataset))
    return RUN_DIR.format(dataset=wildcards.dataset, backbone=wildcards.backbone, method="aqn",
                          variant=variant, seed=wildcards.seed)


def stage_one_model(wildcards):
    if wildcards.method not in TWO_STAGE_METHODS:
        return []
    return f"{stage_one_run(wildcards)}/model.pt"


def run_dirs(dataset, methods, backbones, seeds, variants=("base",)):
    return expand(RUN_DIR, dataset=dataset, backbone=backbones, method=methods, variant=variants, seed=seeds)


def grid_metrics():
    """metrics.json of every run of the default grid."""
    dirs = run_dirs(config["dataset"], config["methods"], config["backbones"], config["seeds"])
    return [f"{d}/metrics.json" for d in dirs]


def all_targets():
    return [f"{EXP_DIR}/table.md", f"{EXP_DIR}/table.csv", f"{EXP_DIR}/error.png"] + report_targets()


def report_targets():
    """The HTML tables the Snakemake report shows inline (CSV files it only offers for download)."""
    return [f"{EXP_DIR}/table.html", f"{EXP_DIR}/runs.html"]


def _merge(base, overrides):
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def run_config(wildcards):
    """The nested RunConfig dict of one train job: shared settings <- dataset recipe <- variant."""
    cfg = {
        "method": wildcards.method,
        "backbone": wildcards.backbone,
        "seed": int(wildcards.seed),
        "model": config["model"],
        "train": config["train"],
        "data": {**config["data"], "path": f"{RESULTS}/datasets/{wildcards.dataset}"},
        "tracking": {"uri": config["tracking_uri"], "experiment": EXPERIMENT},
    }
    cfg = _merge(cfg, config["recipes"].get(wildcards.dataset, {}))
    cfg = _merge(cfg, variant_overrides(wildcards.variant))
    if wildcards.method in TWO_STAGE_METHODS:
        cfg = _merge(cfg, {"model": {"init_from": stage_one_model(wildcards)}})
    return cfg


def run_config_arg(wildcards):
    return shlex.quote(json.dumps(run_config(wildcards), sort_keys=True))


def run_tags_arg(wildcards):
    tags = {f"wildcard.{k}": v for k, v in wildcards.items()}
    tags["run_name"] = "/".join(
        [wildcards.dataset, wildcards.method, wildcards.backbone, wildcards.variant, f"seed{wildcards.seed}"]
    )
    return " ".join(f"--tag {shlex.quote(f'{k}={v}')}" for k, v in tags.items())


def output_dir(wildcards, output):
    """Folder of a rule's first output (derived, not hard-coded, so remote storage works)."""
    return os.path.dirname(output[0])


def embedded_args(wildcards):
    """CLI options of `l2l generate` for the settings this dataset gives (the rest: l2l's defaults)."""
    settings = config["datasets"][wildcards.dataset].get("embedded", {})
    return " ".join(f"--{key.replace('_', '-')} {int(value)}" for key, value in settings.items())


def train_gpus():
    return gpus_per_job(config["train"].get("device", "auto"))  # l2l/gpu_lease.py: 1 unless device is cpu


# ---- real datasets (download + prepare) ----
PREPARED_SOURCES = ("lfwa", "pa100k", "clothing", "csv")
DOWNLOADS = f"{RESULTS}/downloads"


def datasets_of_sources(sources):
    """Regex alternation of the dataset names whose source is one of ``sources``."""
    names = [n for n, d in config["datasets"].items() if d["source"] in sources]
    return "|".join(names) if names else "^$"


def datasets_with_url():
    names = [n for n, d in config["datasets"].items() if d.get("url")]
    return "|".join(names) if names else "^$"


def download_path(dataset):
    """Where the download rule puts the file at datasets.<dataset>.url (its name from the URL)."""
    from urllib.parse import urlparse

    url = config["datasets"][dataset]["url"]
    name = os.path.basename(urlparse(url).path) or "download"
    return f"{DOWNLOADS}/{dataset}/{name}"


def prepare_source(wildcards):
    """The folder or archive `l2l prepare` reads: the downloaded file, or the configured local path."""
    d = config["datasets"][wildcards.dataset]
    if d.get("url"):
        return download_path(wildcards.dataset)
    if not d.get("path"):
        raise ValueError(
            f"config: datasets.{wildcards.dataset} (source {d['source']}) needs a url or a path "
            f"(the local folder or archive); see config/README.md"
        )
    return d["path"]


def prepare_input(wildcards):
    """The source as an input when it exists; a missing manual source is left to `l2l prepare`,
    which fails with the instructions (where to get the data, which files, where to put them)."""
    source = prepare_source(wildcards)
    return source if config["datasets"][wildcards.dataset].get("url") or os.path.exists(source) else []


def prepare_source_arg(wildcards):
    return shlex.quote(prepare_source(wildcards))


def prepare_args(wildcards):
    """Options of `l2l prepare` from datasets.<name> (null values: the preparer's defaults)."""
    d = config["datasets"][wildcards.dataset]
    args = [d["source"], "--seed", str(d.get("split_seed", 0)), "--name", wildcards.dataset,
            "--check-images", d.get("check_images", "decode")]
    for key in ("val_fraction", "train_size", "test_fraction", "csv_file", "image_column", "split_column"):
        if d.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(d[key])]
    if d.get("url"):
        args += ["--source-url", d["url"]]
    return " ".join(shlex.quote(a) for a in args)


def download_url(wildcards):
    return shlex.quote(config["datasets"][wildcards.dataset]["url"])


def download_sha_arg(wildcards):
    sha = config["datasets"][wildcards.dataset].get("sha256")
    return f"--sha256 {sha}" if sha else ""


def dataset_dir(wildcards):
    return f"{RESULTS}/datasets/{wildcards.dataset}"


def cache_inputs(wildcards):
    """The uint8 image caches a train job reads when data.cache is on (one per split it uses)."""
    data = run_config(wildcards)["data"]
    if not data.get("cache", True):
        return []
    height, width = data.get("image_size", [32, 32])
    splits = [*data.get("train_splits", ["train"]), data.get("val_split", "val"), data.get("test_split", "test")]
    root = f"{RESULTS}/datasets/{wildcards.dataset}/cache"
    return [f"{root}/{s}_{height}x{width}.npy" for s in dict.fromkeys(s for s in splits if s)]


# --- paper tables (config/tables.yaml; rules in tables.smk) -------------------------------------------
from l2l.tables import plan_runs, plan_table, suite_map

TABLE_DIR = f"{EXP_DIR}/tables/{{suite}}/{{table}}"
ATTENTION_PNG = f"{EXP_DIR}/tables/{{suite}}/attention/attention_{{split}}{{sample}}_layer{{layer}}_head{{head}}.png"
MACS_JSON = f"{EXP_DIR}/macs/{{dataset}}/{{backbone}}/{{method}}/{{variant}}.json"
PAPER_NUMBERS = os.path.join(workflow.basedir, "config/paper_numbers.yaml")


def _suite(suite):
    if suite not in config["table_suites"]:
        raise ValueError(f"config: unknown table suite '{suite}'; table_suites has {', '.join(config['table_suites'])}")
    return {**config["table_suites"][suite], "name": suite}


def table_plan(suite, table):
    """Cells and run folders of one table in one suite (l2l.tables.plan_table)."""
    s = _suite(suite)
    spec = config["tables"][table]
    dataset = suite_map(s, "datasets", spec["dataset"])
    if dataset not in config["datasets"]:
        raise ValueError(
            f"{table} ({suite}) needs dataset '{dataset}', which is not a key of datasets; add it "
            f"(the paper datasets come from config/paper_datasets.yaml) or map it in table_suites.{suite}.datasets"
        )
    return plan_table(table, spec, s, s["seeds"], base_run_config, RUN_DIR.format)


def suite_tables(suite):
    """Tables the suite builds: those with at least one backbone the suite keeps."""
    s = _suite(suite)
    return [t for t, spec in config["tables"].items()
            if any(suite_map(s, "backbones", b) is not None for b in spec["backbones"])]


def table_macs_files(suite, table):
    plan = table_plan(suite, table)
    if not plan["macs"]:
        return []
    return [MACS_JSON.format(dataset=c["dataset"], backbone=c["backbone"], method=c["method"], variant=c["variant"])
            for c in plan["cells"] if c["show"]]


def table_inputs(wildcards):
    runs = plan_runs(table_plan(wildcards.suite, wildcards.table))
    return {"metrics": [f"{r}/metrics.json" for r in runs], "history": [f"{r}/history.csv" for r in runs],
            "paper": PAPER_NUMBERS, "macs": table_macs_files(wildcards.suite, wildcards.table)}


def table_plan_arg(wildcards):
    return shlex.quote(json.dumps(table_plan(wildcards.suite, wildcards.table), sort_keys=True))


def macs_args(wildcards):
    """`l2l macs` options from the run config of this (dataset, backbone, method, variant)."""
    cfg = run_config(Namespace(dataset=wildcards.dataset, backbone=wildcards.backbone, method=wildcards.method,
                               variant=wildcards.variant, seed="0"))
    m, (h, w) = cfg["model"], cfg["data"]["image_size"]
    return (f"--method {wildcards.method} --backbone {wildcards.backbone} --height {h} --width {w} "
            f"--layers {m.get('aqn_layers', 1)} --mlm-layers {m.get('mlm_layers', 2)} "
            f"--ffn-dim {m.get('ffn_dim', 2048)} --num-heads {m.get('num_heads', 4)}")


def attention_run(wildcards):
    """Run folder whose IC-MLM attention a suite draws (table_suites.<suite>.attention)."""
    s = _suite(wildcards.suite)
    a = s["attention"]
    dataset = suite_map(s, "datasets", a["dataset"])
    return RUN_DIR.format(dataset=dataset, backbone=suite_map(s, "backbones", a["backbone"]), method=a["method"],
                          variant="base", seed=a["seed"])


def attention_inputs(wildcards):
    run = attention_run(wildcards)
    return {"model": f"{run}/model.pt", "metrics": f"{run}/metrics.json"}


def attention_outputs(suite):
    a = _suite(suite).get("attention")
    if not a:
        return []
    return expand(ATTENTION_PNG, suite=suite, split="test", sample=a["samples"], layer=a.get("layer", 1),
                  head=a.get("head", 1))


def suite_targets(suite):
    """table.md of every table of the suite, and its attention maps."""
    tables = suite_tables(suite)
    for t in tables:
        table_plan(suite, t)  # fail early, with the message, if a dataset is missing
    return [f"{EXP_DIR}/tables/{suite}/{t}/table.md" for t in tables] + attention_outputs(suite)


def paper_targets(wildcards):
    """Input of `paper` (a function, so a missing paper dataset only stops that target)."""
    return suite_targets("paper")


def ablation_targets(wildcards):
    return suite_targets("ablations")


def table_target_function(table):
    """Input function of the target named after the table (its paper-suite table.md)."""

    def targets(wildcards):
        table_plan("paper", table)
        return [f"{EXP_DIR}/tables/paper/{table}/table.md"]

    return targets
