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
DATASET = config["dataset"]["name"]
DATASET_DIR = f"{RESULTS}/datasets/{DATASET}"
RUN_DIR = f"{EXP_DIR}/runs/{DATASET}/{{backbone}}/{{method}}/{{variant}}/seed{{seed}}"
TRACKING_MARKER = f"{EXP_DIR}/mlflow_experiment.json"


wildcard_constraints:
    method="|".join(["fc_head", "aqn", "label2label"]),
    seed=r"\d+",
    variant=r"[A-Za-z0-9_.=-]+",


def variants():
    """Variant name -> overrides of the shared run config. 'base' is the config as written."""
    return {"base": {}}


def run_dirs():
    return expand(
        RUN_DIR,
        backbone=config["backbones"],
        method=config["methods"],
        variant=list(variants()),
        seed=config["seeds"],
    )


def run_metrics():
    return [f"{d}/metrics.json" for d in run_dirs()]


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
    """The nested RunConfig dict of one train job (l2l resolves defaults and writes it to the run folder)."""
    cfg = {
        "method": wildcards.method,
        "backbone": wildcards.backbone,
        "seed": int(wildcards.seed),
        "model": config["model"],
        "train": config["train"],
        "data": {**config["data"], "path": DATASET_DIR},
        "tracking": {"uri": config["tracking_uri"], "experiment": EXPERIMENT},
    }
    return _merge(cfg, variants()[wildcards.variant])


def run_config_arg(wildcards):
    return shlex.quote(json.dumps(run_config(wildcards), sort_keys=True))


def run_tags_arg(wildcards):
    tags = {f"wildcard.{k}": v for k, v in wildcards.items()}
    tags["run_name"] = f"{DATASET}/{wildcards.method}/{wildcards.backbone}/{wildcards.variant}/seed{wildcards.seed}"
    return " ".join(f"--tag {shlex.quote(f'{k}={v}')}" for k, v in tags.items())


def output_dir(wildcards, output):
    """Folder of a rule's first output (derived, not hard-coded, so remote storage works)."""
    return os.path.dirname(output[0])


def train_gpus():
    return 1 if config["train"].get("device", "cpu").startswith("cuda") else 0
