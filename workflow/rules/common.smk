# Path templates and one-line input functions; what a run is is decided in l2l.plan (tests/test_plan.py).
import json
import os

from snakemake.exceptions import WorkflowError

from l2l.errors import UserError
from l2l.gpu_lease import gpus_per_job
from l2l.methods import wildcard_pattern
from l2l.plan import RUN_PATH, Planner, Run, TablePlanner, datasets, folder_templates
from l2l.plan.experiment import check_experiment
from l2l.protocols import wildcard_pattern as protocol_wildcard

try:  # the one schema (l2l/schema.py) and the cross-field checks; one line naming the key
    check_experiment(config)
except UserError as e:
    raise WorkflowError(str(e)) from None

RESULTS = config["results_dir"]
EXPERIMENT = config["experiment"]
EXP_DIR = f"{RESULTS}/{EXPERIMENT}"  # the default grid's; a suite's runs and tables: its own experiment
LOGS = f"{EXP_DIR}/logs"
EXP = f"{RESULTS}/{{experiment}}"
ELOGS = f"{EXP}/logs"
DOWNLOADS = f"{RESULTS}/downloads"
RUN_DIR, DATASET_DIR = folder_templates(RESULTS)  # l2l resolve uses the same
TRAIN_LOG = f"{ELOGS}/train/{RUN_PATH}.log"
TRACKING_MARKER = f"{EXP}/mlflow_experiment.json"
TABLE_DIR = f"{EXP}/tables/{{table}}"
SUMMARY = f"{EXP}/tables/reproduction_summary"
ATTENTION_PNG = f"{EXP}/tables/attention/attention_{{split}}{{sample}}_layer{{layer}}_head{{head}}.png"
MACS_JSON = f"{EXP}/macs/{{dataset}}/{{backbone}}/{{method}}/{{variant}}/{{protocol}}.json"
CONDA_ENV = "../envs/l2l.yaml"  # `--sdm conda`: installs this checkout through ${L2L_ROOT} (the Snakefile sets it)
PAPER_NUMBERS = os.path.join(workflow.basedir, "config/paper_numbers.yaml")
PLAN = Planner(config, RUN_DIR.format, DATASET_DIR.format)
TABLES = TablePlanner(PLAN)


wildcard_constraints:
    experiment="|".join(dict.fromkeys([EXPERIMENT, *TABLES.experiments()])),
    dataset="|".join(config["datasets"]),
    method=wildcard_pattern(),
    protocol=protocol_wildcard(),
    seed=r"\d+",
    variant=r"[A-Za-z0-9_.,=-]+",


def datasets_of(*sources, url=False):
    """Regex of the datasets with one of these sources / with a url (a rule's dataset wildcard; ^$ for none)."""
    names = datasets.datasets_with_url(config["datasets"]) if url else datasets.datasets_of_source(config["datasets"], *sources)
    return "|".join(names) or "^$"


def run_of(w):
    return Run(w.dataset, w.backbone, w.method, w.variant, w.protocol, int(w.get("seed", 0)), w.experiment)


def dataset_dir(wildcards):
    return DATASET_DIR.format(dataset=wildcards.dataset)


# one-line input functions of the train rule (l2l.plan decides)
stage_one_model = lambda w: PLAN.stage_one_model(run_of(w)) or []
cache_inputs = lambda w: PLAN.cache_files(run_of(w))
run_config_json = lambda w: json.dumps(PLAN.run_config(run_of(w)), sort_keys=True)
run_tags = lambda w: [a for k, v in run_of(w).tags().items() for a in ("--tag", f"{k}={v}")]
train_gpus = lambda w: gpus_per_job(PLAN.resolved(run_of(w))["train"]["device"])  # 1 unless the run is on the CPU


def train_log_target(wildcards):
    """The run folder's train.log (every attempt), relative to the job's log, a link to it."""
    f = run_of(wildcards).fields()
    return os.path.relpath(f"{RUN_DIR.format(**f)}/train.log", os.path.dirname(TRAIN_LOG.format(**f)))


def output_dir(wildcards, output):
    """Folder of a rule's first output (derived, not hard-coded, so remote storage works)."""
    return os.path.dirname(output[0])


def grid_metrics():
    """metrics.json of every run of the default grid (`snakemake all`, protocol clean unless set)."""
    return [f"{RUN_DIR.format(**r.fields())}/metrics.json" for r in PLAN.grid()]


def all_targets():
    """The demo's table and plot, and the HTML tables the Snakemake report shows inline."""
    return [f"{EXP_DIR}/{f}" for f in ("table.md", "table.csv", "error.png", "table.html", "runs.html")]


# ---- real datasets (download + prepare): l2l.plan.datasets(config["datasets"], wildcards.dataset, ...)
def of_dataset(function, *extra):
    return lambda wildcards: function(config["datasets"], wildcards.dataset, *extra)


prepare_input = of_dataset(datasets.prepare_input, DOWNLOADS)
prepare_source = of_dataset(datasets.prepare_source, DOWNLOADS)
prepare_args = of_dataset(datasets.prepare_args)
download_args = of_dataset(datasets.download_args)
embedded_args = of_dataset(datasets.embedded_args)
url_file_input = of_dataset(datasets.url_file_input, DOWNLOADS)
url_file_arg = lambda w: [a for f in url_file_input(w) for a in ("--source-url-file", f)]
write_url_file = lambda dataset, path: datasets.write_url_file(config["datasets"][dataset]["url"], path)


# --- paper tables (config/tables.yaml; rules in tables.smk) -------------------------------------------
def table_inputs(w):
    suite = TABLES.suite_of(w.experiment)
    runs, macs = TABLES.runs(suite, w.table), TABLES.macs_runs(suite, w.table)
    return {"metrics": [f"{r}/metrics.json" for r in runs], "history": [f"{r}/history.csv" for r in runs],
            "paper": PAPER_NUMBERS, "macs": [MACS_JSON.format(**r.fields()) for r in macs]}


def table_plan_json(wildcards):
    return json.dumps(TABLES.plan(TABLES.suite_of(wildcards.experiment), wildcards.table), sort_keys=True)


def attention_run(wildcards):
    return RUN_DIR.format(**TABLES.attention_run(TABLES.suite_of(wildcards.experiment)).fields())


def attention_inputs(wildcards):
    run = attention_run(wildcards)
    return {"model": f"{run}/model.pt", "metrics": f"{run}/metrics.json"}


def suite_tables(suite, name="table.md"):
    """<name> of every table of the suite (each planned now: a bad one fails early)."""
    exp = TABLES.experiment(suite)
    return [f"{RESULTS}/{exp}/tables/{t}/{name}" for t in TABLES.tables(suite) if TABLES.plan(suite, t)]


def suite_targets(suite):
    """Every table of the suite, its reproduction summary and its attention maps."""
    exp = TABLES.experiment(suite)
    return (suite_tables(suite) + [SUMMARY.format(experiment=exp) + ".html"]
            + [ATTENTION_PNG.format(experiment=exp, **m) for m in TABLES.attention_maps(suite)])


paper_targets, ablation_targets = (lambda w: suite_targets("paper")), (lambda w: suite_targets("ablations"))
reproduction_inputs = lambda w: suite_tables(TABLES.suite_of(w.experiment), "table.csv")
suite_of = lambda w: TABLES.suite_of(w.experiment)
suite_protocol = lambda w: PLAN.protocol(TABLES.suite_of(w.experiment))


def table_target_function(table):  # input of the target named after the table: its paper-suite table.md
    return lambda w: [f"{RESULTS}/{TABLES.experiment('paper')}/tables/{table}/table.md"] if TABLES.plan("paper", table) else []
