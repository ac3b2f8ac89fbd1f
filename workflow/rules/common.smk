# Helpers shared by the rules: config validation, paths, the resolved config of each run.
import json
import os
import shlex

from snakemake.utils import validate


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
    method="|".join(["fc_head", "aqn", "label2label"]),
    seed=r"\d+",
    variant=r"[A-Za-z0-9_.=-]+",


def datasets_of_source(source):
    """Regex alternation of the dataset names with this source (constrains a dataset rule's wildcard)."""
    names = [n for n, d in config["datasets"].items() if d["source"] == source]
    return "|".join(names) if names else "^$"


def dataset_meta(wildcards):
    return f"{RESULTS}/datasets/{wildcards.dataset}/meta.yaml"


def variant_overrides(variant):
    """Variant name -> overrides of the run config. 'base' is the config as written."""
    if variant == "base":
        return {}
    raise ValueError(f"unknown variant '{variant}'")


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
    return _merge(cfg, variant_overrides(wildcards.variant))


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
    return 1 if config["train"].get("device", "cpu").startswith("cuda") else 0


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
