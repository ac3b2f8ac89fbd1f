"""What an invocation's own config means beyond a plain merge (l2l.plan.invocation; issue 20 items 6 and 7):
own data gets its own experiment, `--config seeds=...` and `epochs=...` shrink the table suites, and the
rehearsal's config. Plan layer, torch-free, plus one Snakemake dry run."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from l2l.plan import Planner, Run, TablePlanner
from l2l.plan.experiment import load_experiment

REPO = Path(__file__).resolve().parents[1]
RUN_DIR = "R/{experiment}/runs/{dataset}/{backbone}/{method}/{variant}/{protocol}/seed{seed}"
# the README's own-data route: three lines of my.yaml, no experiment
MY_YAML = {"datasets": {"mine": {"source": "csv", "path": "data/mine"}}, "dataset": "mine",
           "data": {"image_size": [64, 64]}}


def _tables(*overrides, configfiles=()):
    config = load_experiment(configfiles, overrides)
    return TablePlanner(Planner(config, RUN_DIR.format, "R/datasets/{dataset}".format))


def _suite_runs(tables: TablePlanner, suite: str) -> set[str]:
    return {r for t in tables.tables(suite) for r in tables.runs(suite, t)}


def test_own_data_gets_an_experiment_named_after_its_dataset(tmp_path):
    my = tmp_path / "my.yaml"
    my.write_text(yaml.safe_dump(MY_YAML))
    config = load_experiment([my])
    assert config["experiment"] == "mine"
    plan = Planner(config, RUN_DIR.format, "R/datasets/{dataset}".format)
    run = plan.grid()[0]
    assert run.experiment == "mine" and plan.run_config(run)["tracking"]["experiment"] == "mine"
    # an experiment the user names wins; the demo keeps its own
    assert load_experiment([my], ["experiment=mine_v2"])["experiment"] == "mine_v2"
    assert load_experiment()["experiment"] == "embedded_demo"
    assert load_experiment((), ["seeds=[0]"])["experiment"] == "embedded_demo"


def test_seeds_from_the_command_line_shrink_every_suite():
    full, one = _tables(), _tables("seeds=[0]")
    for suite in ("ablations", "paper"):
        n_seeds = len(full.suite(suite)["seeds"])
        runs, shrunk = _suite_runs(full, suite), _suite_runs(one, suite)
        assert n_seeds > 1 and len(shrunk) * n_seeds == len(runs), suite
        assert shrunk < runs and all(r.endswith("/seed0") for r in shrunk)
        assert one.plan(suite, "table1")["seeds"] == [0]


def test_epochs_override_reaches_every_suite_run_in_its_own_folder():
    tables = _tables("epochs=2", "seeds=[0]")
    planner = tables.planner
    runs = _suite_runs(tables, "paper")
    assert runs and all("train.epochs=2" in r.split("/")[-3] for r in runs)
    cell = tables.plan("paper", "table9")["cells"][0]
    cfg = planner.run_config(Run(cell["dataset"], cell["backbone"], cell["method"], cell["variant"], "official", 0,
                                 "paper"))
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["batch_size"] == 32  # the rest of the recipe stays
    stage_one = planner.stage_one(Run("lfwa", "resnet50", "icmlm_2stage", "train.epochs=2", "official", 0, "paper"))
    assert stage_one.variant == "train.epochs=2"  # the refiner's stage one is shortened too
    assert tables.attention_run("paper").variant == "train.epochs=2"
    assert {r.variant for r in planner.grid()} == {"train.epochs=2"}
    # the full-length folders are not the shortened ones: nothing already trained is overwritten
    assert not runs & _suite_runs(_tables("seeds=[0]"), "paper")


def test_rehearsal_config_stays_in_its_own_results_tree():
    config = load_experiment((), ["rehearsal=true"])
    assert config["results_dir"] == "results/rehearsal"
    assert config["tracking_uri"] == "sqlite:///results/rehearsal/mlflow.db"
    for name in ("lfwa", "pa100k", "clothing"):
        d = config["datasets"][name]
        assert d["path"] == f"results/rehearsal/standins/{name}" and d["url"] is None
        assert config["recipes"][name]["train"]["epochs"] == 1
    assert all(s["seeds"] == [0] for s in config["table_suites"].values())
    tables = TablePlanner(Planner(config, RUN_DIR.format, "R/datasets/{dataset}".format))
    assert tables.plan("paper", "table5")["cells"][0]["backbone"] == "resnet50"  # the real backbones


def _dry_run(tmp_path, *config):
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "-n", "ablations", "--config", *config],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_dry_run_of_a_shrunk_suite_shows_it(tmp_path):
    """`snakemake -n ablations --config seeds='[0]' epochs=1` plans half the train jobs of the 2-seed suite,
    each in its shortened folder (the full suite's count comes from the plan layer, no second dry run)."""
    out = _dry_run(tmp_path, "seeds=[0]", "epochs=1")
    full = len(_suite_runs(_tables(), "ablations"))
    n_train = int(re.search(r"^train\s+(\d+)$", out, re.M).group(1))
    assert n_train * 2 == full, (n_train, full)
    assert "/train.epochs=1/clean/seed0/metrics.json" in out and "/seed1/" not in out
