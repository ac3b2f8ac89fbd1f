# Path templates and input functions; what a run is (its config, its inputs, the tables' runs) is
# decided in l2l.plan, torch-free and unit-tested (tests/test_plan.py). Functions here are one-liners.
import json
import os

from snakemake.exceptions import WorkflowError

from l2l.errors import UserError
from l2l.methods import wildcard_pattern
from l2l.plan import Planner, Run, TablePlanner, datasets
from l2l.schema import validate_config

try:  # one schema, one line naming the key (l2l/schema.py); coerces --config strings such as seeds='[0,1]'
    validate_config(config)
except UserError as e:
    raise WorkflowError(str(e)) from None

RESULTS = config["results_dir"]
EXPERIMENT = config["experiment"]
EXP_DIR = f"{RESULTS}/{EXPERIMENT}"
LOGS = f"{EXP_DIR}/logs"
DATASET_DIR = f"{RESULTS}/datasets/{{dataset}}"
DOWNLOADS = f"{RESULTS}/downloads"
RUN_PATH = "{dataset}/{backbone}/{method}/{variant}/{protocol}/seed{seed}"
RUN_DIR = f"{EXP_DIR}/runs/{RUN_PATH}"
TRACKING_MARKER = f"{EXP_DIR}/mlflow_experiment.json"
TABLE_DIR = f"{EXP_DIR}/tables/{{suite}}/{{table}}"
ATTENTION_PNG = f"{EXP_DIR}/tables/{{suite}}/attention/attention_{{split}}{{sample}}_layer{{layer}}_head{{head}}.png"
MACS_JSON = f"{EXP_DIR}/macs/{{dataset}}/{{backbone}}/{{method}}/{{variant}}/{{protocol}}.json"
PAPER_NUMBERS = os.path.join(workflow.basedir, "config/paper_numbers.yaml")
PLAN = Planner(config, RUN_DIR.format, DATASET_DIR.format)
TABLES = TablePlanner(PLAN)

if config["dataset"] not in config["datasets"]:
    raise WorkflowError(f"config: dataset '{config['dataset']}' is not a key of datasets "
                        f"({', '.join(config['datasets'])}); add it there or pick one of those")


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    method=wildcard_pattern(),
    protocol="official|clean",
    seed=r"\d+",
    variant=r"[A-Za-z0-9_.,=-]+",


def datasets_of(*sources):
    """Regex of the datasets with one of these sources (a rule's dataset wildcard; nothing when none)."""
    return "|".join(datasets.datasets_of_source(config["datasets"], *sources)) or "^$"


def datasets_with_url():
    return "|".join(datasets.datasets_with_url(config["datasets"])) or "^$"


def run_of(w):
    return Run(w.dataset, w.backbone, w.method, w.variant, w.protocol, int(w.get("seed", 0)))


def dataset_meta(wildcards):
    return f"{RESULTS}/datasets/{wildcards.dataset}/meta.yaml"


def dataset_dir(wildcards):
    return f"{RESULTS}/datasets/{wildcards.dataset}"


def stage_one_model(wildcards):
    return PLAN.stage_one_model(run_of(wildcards)) or []


def cache_inputs(wildcards):
    return PLAN.cache_files(run_of(wildcards))


def run_config_json(wildcards):
    return json.dumps(PLAN.run_config(run_of(wildcards)), sort_keys=True)


def run_tags(wildcards):
    """`--tag k=v` arguments: the wildcards, and the MLflow run name."""
    tags = {**{f"wildcard.{k}": v for k, v in wildcards.items()}, "run_name": "/".join(
        [wildcards.dataset, wildcards.method, wildcards.backbone, wildcards.variant, wildcards.protocol, f"seed{wildcards.seed}"])}
    return [a for k, v in tags.items() for a in ("--tag", f"{k}={v}")]


def output_dir(wildcards, output):
    """Folder of a rule's first output (derived, not hard-coded, so remote storage works)."""
    return os.path.dirname(output[0])


def embedded_args(wildcards):
    return datasets.embedded_args(config["datasets"], wildcards.dataset)


def train_gpus():
    return 1 if config["train"].get("device", "cpu").startswith("cuda") else 0


def grid_metrics():
    """metrics.json of every run of the default grid (`snakemake all`)."""
    return [f"{RUN_DIR.format(**r.fields())}/metrics.json" for r in PLAN.grid()]


def all_targets():
    return [f"{EXP_DIR}/table.md", f"{EXP_DIR}/table.csv", f"{EXP_DIR}/error.png"] + report_targets()


def report_targets():
    """The HTML tables the Snakemake report shows inline (CSV files it only offers for download)."""
    return [f"{EXP_DIR}/table.html", f"{EXP_DIR}/runs.html"]


# ---- real datasets (download + prepare; l2l.plan.datasets) ----
def prepare_input(wildcards):
    return datasets.prepare_input(config["datasets"], wildcards.dataset, DOWNLOADS)


def prepare_source(wildcards):
    return datasets.prepare_source(config["datasets"], wildcards.dataset, DOWNLOADS)


def prepare_args(wildcards):
    return datasets.prepare_args(config["datasets"], wildcards.dataset)


def download_args(wildcards):
    return datasets.download_args(config["datasets"], wildcards.dataset)


# --- paper tables (config/tables.yaml; rules in tables.smk) -------------------------------------------
def table_inputs(wildcards):
    runs = TABLES.runs(wildcards.suite, wildcards.table)
    return {"metrics": [f"{r}/metrics.json" for r in runs], "history": [f"{r}/history.csv" for r in runs],
            "paper": PAPER_NUMBERS, "macs": [MACS_JSON.format(**r.fields()) for r in
                                             TABLES.macs_runs(wildcards.suite, wildcards.table)]}


def table_plan_json(wildcards):
    return json.dumps(TABLES.plan(wildcards.suite, wildcards.table), sort_keys=True)


def attention_run(wildcards):
    return RUN_DIR.format(**TABLES.attention_run(wildcards.suite).fields())


def attention_inputs(wildcards):
    run = attention_run(wildcards)
    return {"model": f"{run}/model.pt", "metrics": f"{run}/metrics.json"}


def suite_targets(suite):
    """table.md of every table of the suite, and its attention maps (plans fail early, with the message)."""
    a = TABLES.suite(suite).get("attention")
    maps = expand(ATTENTION_PNG, suite=suite, split="test", sample=a["samples"], layer=a["layer"],
                  head=a["head"]) if a else []
    return [f"{EXP_DIR}/tables/{suite}/{t}/table.md" for t in TABLES.tables(suite) if TABLES.plan(suite, t)] + maps


def paper_targets(wildcards):
    return suite_targets("paper")


def ablation_targets(wildcards):
    return suite_targets("ablations")


def table_target_function(table):
    """Input function of the target named after the table (its paper-suite table.md)."""
    return lambda wildcards: [f"{EXP_DIR}/tables/paper/{table}/table.md"] if TABLES.plan("paper", table) else []
