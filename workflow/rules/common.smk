# Path templates and one-line input functions; what a run is is decided in l2l.plan (tests/test_plan.py).
import json
import os
import sys

from snakemake.exceptions import WorkflowError

from l2l.errors import UserError
from l2l.gpu_lease import gpus_per_job
from l2l.methods import wildcard_pattern
from l2l.plan import RUN_PATH, Planner, Run, TablePlanner, datasets, folder_templates
from l2l.plan import resources
from l2l.plan.experiment import check_experiment, demo_dataset
from l2l.plan.invocation import STANDIN_MIRROR as STANDIN_MIRROR_DIR, finish_config, standins
from l2l.protocols import wildcard_pattern as protocol_wildcard
from l2l.report.header import GRID, Covered, ReportPage, report_mode, turn_off_raw_and_include
from l2l.weights import ENV_DIR as L2L_WEIGHTS_ENV, run_weights

try:  # the one schema (l2l/schema.py) and the cross-field checks; one line naming the key; then what the
    # user's --configfile/--config mean beyond the merge (own data's experiment, seeds of the suites, the rehearsal)
    check_experiment(config)
    check_experiment(finish_config(config, workflow.config_settings.overwrite_config, demo_dataset(workflow.basedir)))
except UserError as e:
    raise WorkflowError(str(e)) from None

RESULTS = config["results_dir"]
EXPERIMENT = config["experiment"]
EXP_DIR = f"{RESULTS}/{EXPERIMENT}"  # the default grid's; a suite's runs and tables: its own experiment
LOGS = f"{EXP_DIR}/logs"
EXP = f"{RESULTS}/{{experiment}}"
ELOGS = f"{EXP}/logs"
DOWNLOADS = f"{RESULTS}/downloads"
WEIGHTS_DIR = f"{RESULTS}/weights"  # pretrained weights for offline train jobs (docs/weights.md)
# Every job (and the SLURM jobs, which inherit the environment and parse this file again) loads pretrained
# weights from the cache only, never from the internet; set here, not in the train rule, so that a run
# trained before is not rerun for a changed shell command.
os.environ.update({L2L_WEIGHTS_ENV: WEIGHTS_DIR, "TORCH_HOME": f"{WEIGHTS_DIR}/torch", "HF_HUB_OFFLINE": "1"})
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
REPORT_PAGE = ReportPage(config, PLAN, TABLES)  # the report's first page, read from the runs (l2l/report/header.py)
REPORTING = report_mode(sys.argv)
if REPORTING:  # workflow/report/workflow.rst calls it; docutils renders no raw HTML and includes no file
    config["_l2l_report"] = REPORT_PAGE
    turn_off_raw_and_include(os.path.join(workflow.basedir, "workflow/report/docutils.conf"))


def refuse_stale_report(experiment, table):
    """`snakemake --report` with options that plan other runs than those on disk: one line, before any warning."""
    if REPORTING:
        try:
            REPORT_PAGE.refuse_stale([Covered(experiment, table)])
        except UserError as e:
            raise WorkflowError(str(e)) from None


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
weights_files = lambda w: [ancient(f"{WEIGHTS_DIR}/{f.relpath}") for f in run_weights(PLAN, run_of(w))]  # [] unless pretrained


def train_estimate(w):
    """Runtime and memory of one train job from its resolved run (l2l.plan.resources; docs/resources.md)."""
    run = run_of(w)
    return resources.estimate(PLAN.resolved(run), config["datasets"][run.dataset], config, run.dataset,
                              DATASET_DIR.format(dataset=run.dataset))


train_runtime = lambda w: train_estimate(w).runtime  # minutes: SLURM's time limit
train_mem_mb = lambda w: train_estimate(w).mem_mb
train_gpus = lambda w: gpus_per_job(PLAN.resolved(run_of(w))["train"]["device"])  # 1 unless the run is on the CPU


def train_log_target(wildcards):
    """The run folder's train.log (every attempt), relative to the job's log, a link to it."""
    f = run_of(wildcards).fields()
    return os.path.relpath(f"{RUN_DIR.format(**f)}/train.log", os.path.dirname(TRAIN_LOG.format(**f)))


def output_dir(wildcards, output):
    """Folder of a rule's first output (derived, not hard-coded, so remote storage works)."""
    return os.path.dirname(output[0])


def grid_metrics(wildcards=None):
    """metrics.json of every run of the default grid (`snakemake all`, protocol clean unless set)."""
    refuse_stale_report(EXPERIMENT, GRID)
    return [f"{RUN_DIR.format(**r.fields())}/metrics.json" for r in PLAN.grid()]


def all_targets():
    """The demo's table and plot, the HTML tables the Snakemake report shows inline, and its model zoo."""
    return [f"{EXP_DIR}/{f}" for f in ("table.md", "table.csv", "error.png", "table.html", "runs.html", "zoo.md")]


def zoo_inputs(wildcards):
    """metrics.json of every run of the experiment (the default grid, or every table of a suite) and the
    suite's table.csv files (the paper's numbers); the zoo rule (zoo.smk)."""
    if wildcards.experiment not in TABLES.experiments():
        return {"metrics": grid_metrics(), "tables": []}
    suite = TABLES.suite_of(wildcards.experiment)
    runs = dict.fromkeys(r for t in TABLES.tables(suite) if TABLES.plan(suite, t) for r in TABLES.runs(suite, t))
    return {"metrics": [f"{r}/metrics.json" for r in runs], "tables": suite_tables(suite, "table.csv")}


zoo_suite = lambda w: TABLES.suite_of(w.experiment) if w.experiment in TABLES.experiments() else ""
zoo_protocol = lambda w: PLAN.protocol(zoo_suite(w) or None)


# ---- real datasets (download + prepare): l2l.plan.datasets(config["datasets"], wildcards.dataset, ...)
def of_dataset(function, *extra):
    return lambda wildcards: function(config["datasets"], wildcards.dataset, *extra)


STANDINS = standins(config)  # rehearsal: {dataset: stand-in folder the standin_dataset rule writes}
STANDIN_MIRROR = f"{RESULTS}/{STANDIN_MIRROR_DIR}"  # the rehearsal's weights_mirror (the standin_weights rule)


def standin_weights_pair(wildcards):
    from l2l.weights import of_relpath

    wf = of_relpath(f"{wildcards.library}/{wildcards.weights_file}")
    return f"{wf.backbone}:{wf.source}"


# fetch_weights copies from the mirror; the rehearsal's stand-in mirror is made by a rule, so it is an input
weights_mirror_input = lambda w: [f"{STANDIN_MIRROR}/{w.library}/{w.weights_file}"] if config["rehearsal"] else []
prepare_input = lambda w: [STANDINS[w.dataset]] if w.dataset in STANDINS else datasets.prepare_input(
    config["datasets"], w.dataset, DOWNLOADS)
prepare_source = of_dataset(datasets.prepare_source, DOWNLOADS)
prepare_args = of_dataset(datasets.prepare_args)
download_args = of_dataset(datasets.download_args)
embedded_args = of_dataset(datasets.embedded_args)
url_file_input = of_dataset(datasets.url_file_input, DOWNLOADS)
url_file_arg = lambda w: [a for f in url_file_input(w) for a in ("--source-url-file", f)]
write_url_file = lambda dataset, path: datasets.write_url_file(config["datasets"][dataset]["url"], path)


# --- paper tables (config/tables.yaml; rules in tables.smk) -------------------------------------------
def table_inputs(w):
    refuse_stale_report(w.experiment, w.table)
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
    """Every table of the suite with its per-attribute table, its reproduction summary, its attention maps
    and, for a suite with an overview (field), the overview."""
    exp = TABLES.experiment(suite)
    overview = [f"{OVERVIEW.format(experiment=exp)}.html"] if TABLES.suite(suite).get("overview") else []
    return (suite_tables(suite) + suite_tables(suite, "attributes.md")
            + [SUMMARY.format(experiment=exp) + ".html", f"{RESULTS}/{exp}/zoo.md"]
            + [ATTENTION_PNG.format(experiment=exp, **m) for m in TABLES.attention_maps(suite)] + overview)


paper_targets, ablation_targets = (lambda w: suite_targets("paper")), (lambda w: suite_targets("ablations"))
field_targets = lambda w: suite_targets("field")


# --- per-attribute tables (every suite) and a suite's overview (field; l2l/report/{attributes,overview}.py)
OVERVIEW = f"{EXP}/tables/overview/overview"


def attribute_inputs(w):
    """metrics.json of the table's shown cells and the prepared dataset's meta.yaml (its attribute groups)."""
    refuse_stale_report(w.experiment, w.table)
    plan = TABLES.plan(TABLES.suite_of(w.experiment), w.table)
    return {"metrics": [f"{r}/metrics.json" for c in plan["cells"] if c["show"] for r in c["runs"]],
            "meta": f"{DATASET_DIR.format(dataset=plan['dataset'])}/meta.yaml"}


def overview_inputs(w):
    suite = TABLES.suite_of(w.experiment)
    return {"tables": suite_tables(suite, "table.csv"), "stats": suite_tables(suite, "stats.csv"),
            "attributes": suite_tables(suite, "attributes.md")}


def overview_spec_json(w):
    suite = TABLES.suite_of(w.experiment)
    titles = {t: config["tables"][t].get("title") or t for t in TABLES.tables(suite)}
    return json.dumps({"overview": TABLES.suite(suite)["overview"], "titles": titles}, sort_keys=True)


suite_seeds = lambda w: [str(s) for s in TABLES.suite(TABLES.suite_of(w.experiment))["seeds"]]
reproduction_inputs = lambda w: suite_tables(TABLES.suite_of(w.experiment), "table.csv")
suite_of = lambda w: TABLES.suite_of(w.experiment)
suite_protocol = lambda w: PLAN.protocol(TABLES.suite_of(w.experiment))


def table_target_function(table):  # input of the target named after the table: table.md in its suite
    suite = TABLES.suite_of_table(table)
    return lambda w: [f"{RESULTS}/{TABLES.experiment(suite)}/tables/{table}/table.md"] if TABLES.plan(suite, table) else []


# --- preflight (l2l.preflight; rules in preflight.smk) --------------------------------------------------
def requested_targets():
    """The targets of this invocation (rule names or files), as given on the command line."""
    return sorted(str(t) for t in workflow.dag_settings.targets)


def preflight_targets(wildcards):
    """What the preflight of a suite checks: the suite and table targets asked for now (a table alone
    checks its own runs), else the whole suite."""
    suite = TABLES.suite_of(wildcards.experiment)
    tables = [t for t in config["tables"] if TABLES.suite_of_table(t) == suite]
    asked = [t for t in requested_targets() if t == suite or t in tables]
    return asked or [suite]


def rehearsal_preflight_inputs(wildcards):
    """Under rehearsal=true the preflight checks the stand-ins, so they are written before it: the datasets'
    stand-in folders and the stand-in weights of every file the checked runs load (none otherwise)."""
    if not config["rehearsal"]:
        return []
    from l2l.plan.suites import target_runs
    from l2l.weights import target_weights

    targets = preflight_targets(wildcards)
    used = {r.dataset for t in targets for runs in target_runs(config, t).values() for r in runs}
    files = {wf.relpath for t in targets for wf in target_weights(config, t)}
    return [STANDINS[d] for d in sorted(used) if d in STANDINS] + [f"{STANDIN_MIRROR}/{f}" for f in sorted(files)]


def workflow_is_local():
    """True when train jobs run on this machine (no cluster executor): then a GPU must be visible here."""
    plugin = workflow.executor_plugin
    return plugin is None or bool(plugin.common_settings.local_exec)


def preflight_input(wildcards):
    """A suite's train jobs wait for its preflight; ancient(): a rerun preflight never retrains a run."""
    if wildcards.experiment in TABLES.experiments():
        return [ancient(f"{RESULTS}/{wildcards.experiment}/preflight.md")]
    return []


def run_preflight(config, targets, out, local, log):
    """The checks of every asked target together, one report; the problems stay in the log."""
    import io

    from l2l.preflight import run

    buffer = io.StringIO()
    kept = os.path.join(os.path.dirname(log), "preflight.md")  # a failed rule's output is deleted; the log folder stays
    problems = run(config, targets, out, local=local, stream=buffer, kept_at=kept).problems
    with open(log, "w") as f:
        f.write(buffer.getvalue())
    sys.stderr.write(buffer.getvalue())
    if problems:
        os.replace(out, kept)
        raise WorkflowError(f"preflight: {len(problems)} problem(s) before any train job (listed above)")
