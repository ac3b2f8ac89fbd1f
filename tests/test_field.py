"""The field suite (issue 25; config/field.yaml, docs/field.md): its grid, its recipes against the files they
come from, its published baselines against the README that printed them, and its overview and per-attribute
tables on hand-built run folders (no training). Torch-free."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from l2l.errors import UserError
from l2l.plan import Run
from l2l.plan.experiment import load_experiment
from l2l.plan.suites import planners, suite_of_target, target_runs
from l2l.report.attributes import build_attribute_table, name_groups
from l2l.report.overview import log_to_mlflow, read_tables, write_overview
from l2l.report.paper import build_table

from helpers import REPO

PEDESTRIAN = ("pa100k_par", "peta", "rapv1", "rapv2", "petazs", "rapzs")
FIELD_TABLES = ["field_pa100k", "field_peta", "field_rapv1", "field_rapv2", "field_petazs", "field_rapzs",
                "field_lfwa", "field_celeba"]


@pytest.fixture(scope="module")
def config():
    return load_experiment()


# ------------------------------------------------------------------------------------------- the grid

def test_field_is_every_set_times_three_methods_times_three_seeds(config):
    runs = target_runs(config, "field")
    assert list(runs) == FIELD_TABLES
    flat = [r for table in runs.values() for r in table]
    assert len(flat) == 72 and len(set(flat)) == 72  # 8 sets x 3 methods x 3 seeds, none shared
    assert {r.dataset for r in flat} == {*PEDESTRIAN, "lfwa", "celeba"}
    assert {r.method for r in flat} == {"fc_head", "aqn", "label2label"} and {r.backbone for r in flat} == {"resnet50"}
    assert {r.protocol for r in flat} == {"clean"} and {r.seed for r in flat} == {0, 1, 2}
    assert {r.experiment for r in flat} == {"field"}
    # the paper's suites keep their tables (and run counts: 102 and 50, docs/rehearsal.md)
    assert sum(len(v) for v in target_runs(config, "paper").values()) == 102
    assert sum(len(v) for v in target_runs(config, "ablations").values()) == 50
    assert not any(t.startswith("field") for t in target_runs(config, "paper"))
    assert config["table_suites"]["paper"]["overview"] is None  # no overview job for the paper's suites
    assert suite_of_target(config, "field_peta") == "field" and suite_of_target(config, "table9") == "paper"


def test_a_suite_listing_an_unknown_table_is_one_line(config):
    bad = load_experiment(overrides=[])
    bad["table_suites"]["field"]["tables"] = ["field_peta", "table99"]
    with pytest.raises(UserError, match=r"table_suites.field.tables names table99"):
        planners(bad)[1].tables("field")


def test_snakemake_dry_run_plans_the_field_grid(tmp_path):
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "-n", "field"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M))
    assert counts["train"] == "72" and counts["table"] == "8" and counts["attribute_table"] == "8"
    assert counts["prepare_dataset"] == "8" and counts["suite_overview"] == "1"


# ------------------------------------------------------------------------------ recipes vs their source

# Rethinking_of_PAR (github.com/valencebond/Rethinking_of_PAR @ 0baa462), the values of
# configs/pedes_baseline/{peta,rapv1,rapv2,peta_zs,rap_zs,pa100k}.yaml (identical in these keys), of
# configs/default.py where the yaml leaves a key unset, and of the code that reads them.
PAR = {
    "TRAIN.MAX_EPOCH": 30,                      # default.py (no yaml sets it)
    "TRAIN.BATCH_SIZE": 64,                     # yaml
    "TRAIN.OPTIMIZER.TYPE": "adam",             # yaml; train.py: torch.optim.Adam(param_groups)
    "TRAIN.OPTIMIZER.WEIGHT_DECAY": 5e-4,       # yaml
    "TRAIN.LR_SCHEDULER.LR_FT": 1e-4,           # yaml (backbone)
    "TRAIN.LR_SCHEDULER.LR_NEW": 1e-4,          # yaml (classifier)
    "TRAIN.LR_SCHEDULER.TYPE": "plateau",       # yaml; train.py: ReduceLROnPlateau(factor=0.1, patience=4)
    "TRAIN.CLIP_GRAD": True,                    # yaml; batch_engine.py: clip_grad_norm_(max_norm=10.0)
    "LOSS.SAMPLE_WEIGHT": "weight",             # yaml; tools/function.py ratio2weight: exp(1-r) / exp(r)
    "LOSS.SIZESUM": True,                       # default.py; losses/bceloss.py: loss_m.sum(1).mean()
    "DATASET.HEIGHT": 256, "DATASET.WIDTH": 192,  # yaml
    "DATASET.TRAIN_SPLIT": "trainval", "DATASET.VAL_SPLIT": "test",  # yaml: its "valid" set is the test split
}


def _l2l_value(key, cfg):
    """The run-config value a Rethinking_of_PAR key becomes (the translation docs/field.md states)."""
    t, d = cfg["train"], cfg["data"]
    return {
        "TRAIN.MAX_EPOCH": t["epochs"], "TRAIN.BATCH_SIZE": t["batch_size"], "TRAIN.OPTIMIZER.TYPE": t["optimizer"],
        "TRAIN.OPTIMIZER.WEIGHT_DECAY": t["weight_decay"], "TRAIN.LR_SCHEDULER.LR_FT": t["lr"],
        "TRAIN.LR_SCHEDULER.LR_NEW": t["head_lr"], "TRAIN.LR_SCHEDULER.TYPE": t["scheduler"],
        "TRAIN.CLIP_GRAD": t["grad_clip"] == 10, "LOSS.SAMPLE_WEIGHT": {"pa100k": "weight"}.get(t["loss_weighting"]),
        "LOSS.SIZESUM": t["loss_reduction"] == "sum", "DATASET.HEIGHT": d["image_size"][0],
        "DATASET.WIDTH": d["image_size"][1],
        "DATASET.TRAIN_SPLIT": "trainval" if d["train_splits"] == ["train", "val"] else "+".join(d["train_splits"]),
        "DATASET.VAL_SPLIT": d["val_split"] if t["selection"] == "best_val" else
        (d["test_split"] if t["selection"] == "best_test" else None),
    }[key]


@pytest.mark.parametrize("dataset", PEDESTRIAN)
def test_the_official_pedestrian_recipe_is_rethinking_of_pars_config(config, dataset):
    plan, _ = planners(config)
    cfg = plan.resolved(Run(dataset, "resnet50", "fc_head", "base", "official", 0, "field"))
    assert {k: _l2l_value(k, cfg) for k in PAR} == PAR
    t = cfg["train"]
    assert t["plateau_patience"] == 4 and t["plateau_on"] == "test_loss"  # steps on its valid (= test) loss
    assert t["selection_metric"] == "mA"  # train.py: cur_metric = valid_result.ma
    assert cfg["data"]["augment"] == ["pad_crop", "hflip"]  # augmentation.py: Pad(10), RandomCrop, hflip
    assert cfg["model"]["pretrained"] and cfg["model"]["weights"] == "torchvision_v1"  # resnet50-19c8e357.pth
    assert cfg["model"]["logit_bn"] == "none" and not cfg["model"]["freeze_bn"]  # CLASSIFIER.BN False


@pytest.mark.parametrize("dataset", PEDESTRIAN)
def test_the_clean_pedestrian_recipe_differs_only_in_the_splits_it_looks_at(config, dataset):
    plan, _ = planners(config)
    official, clean = (plan.resolved(Run(dataset, "resnet50", "aqn", "base", p, 0, "field")) for p in ("official", "clean"))
    assert clean["data"]["train_splits"] == ["train"] and clean["data"]["val_split"] == "val"
    assert clean["train"]["selection"] == "best_val" and clean["train"]["plateau_on"] == "val_loss"
    for section in ("model", "train", "data"):
        differ = {k for k in official[section] if official[section][k] != clean[section][k]}
        assert differ <= {"selection", "plateau_on", "train_splits", "val_split"}


def test_celeba_recipe_is_the_lfwa_recipe_with_the_three_stated_changes(config):
    plan, _ = planners(config)
    lfwa, celeba = (plan.resolved(Run(d, "resnet50", "label2label", "base", "clean", 0, "field")) for d in ("lfwa", "celeba"))
    changed = {f"{s}.{k}" for s in ("model", "train", "data") for k in lfwa[s] if lfwa[s][k] != celeba[s][k]}
    assert changed == {"data.image_size", "data.path", "train.batch_size", "train.lr", "train.epochs", "data.val_split"} - \
        ({"data.val_split"} if lfwa["data"]["val_split"] == celeba["data"]["val_split"] else set())
    assert celeba["data"]["image_size"] == [218, 178] and celeba["train"]["batch_size"] == 64
    assert celeba["train"]["lr"] == pytest.approx(lfwa["train"]["lr"] * 64 / lfwa["train"]["batch_size"])


# Rethinking_of_PAR's README, section "Performance / Pedestrian Attribute Recognition", the ResNet-50 rows
# as printed (|Datasets|Models|ma|Acc|Prec|Rec|F1|)
README_ROWS = """
|PA100k|resnet50|80.21|79.15|87.79|87.01|87.40|
|PETA|resnet50|83.96|78.65|87.08|85.62|86.35|
|PETAzs|resnet50|71.43|58.69|74.41|69.82|72.04|
|RAPv1|resnet50|79.27|67.98|80.19|79.71|79.95|
|RAPv2|resnet50|78.52|66.09|77.20|80.23|78.68|
|RAPzs|resnet50|71.76|64.83|78.75|76.60|77.66|
"""


def test_the_published_baselines_are_the_readme_rows_and_the_paper(config):
    baselines = config["table_suites"]["field"]["overview"]["baselines"]
    table = {"PA100k": "field_pa100k", "PETA": "field_peta", "PETAzs": "field_petazs", "RAPv1": "field_rapv1",
             "RAPv2": "field_rapv2", "RAPzs": "field_rapzs"}
    for line in README_ROWS.split():
        name, _, ma, acc, prec, rec, f1 = line.strip("|").split("|")
        b = baselines[table[name]]
        assert (b["mA"], b["accuracy"], b["precision"], b["recall"], b["f1_of_means"]) == \
            (float(ma), float(acc), float(prec), float(rec), float(f1)), name
        assert b["method"] == "fc_head" and "Rethinking_of_PAR README" in b["source"]
        assert float(f1) == pytest.approx(2 * float(prec) * float(rec) / (float(prec) + float(rec)), abs=0.01)
    assert baselines["field_lfwa"]["error"] == 12.49 and baselines["field_lfwa"]["method"] == "label2label"


# ------------------------------------------------------------- overview and per-attribute tables, built

PETA_NAMES = ["personalLess30", "personalMale", "accessoryHat", "upperBodyBlack", "lowerBodyJeans"]


def _metrics(ma, error, per_acc, per_ma):
    return {"test": {"error": error, "mA": ma, "accuracy": ma - 5, "precision": ma + 2, "recall": ma - 1,
                     "f1": ma, "f1_of_means": ma + 0.5, "per_attribute_accuracy": per_acc, "per_attribute_mA": per_ma}}


def _write_field_runs(config, tables, ma_of):
    """metrics.json of every run of ``tables`` with mA ``ma_of(table, method, seed)``; per-attribute values
    derived from it (accuracy = mA + index, mA per attribute = mA - index)."""
    _, planner = planners(config)
    plans = {}
    for t in tables:
        plans[t] = p = planner.plan("field", t)
        for cell in p["cells"]:
            for seed, run in zip(p["seeds"], cell["runs"]):
                ma = ma_of(t, cell["method"], seed)
                names = PETA_NAMES if t != "field_lfwa" else ["Male", "Smiling"]
                out = REPO.__class__(run)
                out.mkdir(parents=True)
                result = _metrics(ma, 100 - ma, {a: ma + i for i, a in enumerate(names)},
                                  {a: ma - i for i, a in enumerate(names)})
                (out / "metrics.json").write_text(json.dumps({**result, "attributes": names}, sort_keys=True))
                pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_error": [30.0, 100 - ma],
                              "val_mA": [60.0, ma]}).to_csv(out / "history.csv", index=False)
    return plans


L2L = {0: 80.0, 1: 81.0, 2: 83.0}
AQN = {0: 79.0, 1: 80.0, 2: 80.0}  # L2L - AQN: 1, 1, 3 -> mean 5/3, p 0.1296 (test_tables' known numbers)


def _ma(table, method, seed):
    return {"label2label": L2L, "aqn": AQN, "fc_head": {0: 70.0, 1: 71.0, 2: 72.0}}[method][seed]


def test_overview_puts_published_numbers_beside_ours_with_the_paired_test(tmp_path):
    config = load_experiment(overrides=[f"results_dir={tmp_path}/results"])
    tables = ["field_peta", "field_lfwa"]
    plans = _write_field_runs(config, tables, _ma)
    csvs, stats = [], []
    for t, plan in plans.items():
        out = tmp_path / "results/field/tables" / t
        build_table(plan, REPO / "config/paper_numbers.yaml", out)
        csvs.append(out / "table.csv")
        stats.append(out / "stats.csv")
    spec = config["table_suites"]["field"]["overview"]
    titles = {t: config["tables"][t]["title"] for t in tables}
    rows = write_overview(read_tables(csvs, stats), titles, spec, "field", "clean", [0, 1, 2], tmp_path / "ov")
    peta = rows[(rows["table"] == "field_peta") & (rows["metric"] == "mA")].iloc[0]
    assert peta["label2label_mean"] == pytest.approx(244 / 3) and peta["aqn_mean"] == pytest.approx(239 / 3)
    assert peta["published"] == 83.96 and peta["published_method"] == "fc_head"
    assert peta["diff_mean"] == pytest.approx(5 / 3) and peta["p_value"] == pytest.approx(0.12961, abs=1e-4)
    f1 = rows[(rows["table"] == "field_peta") & (rows["metric"] == "f1_of_means")].iloc[0]
    assert f1["published"] == 86.35 and f1["label2label_mean"] == pytest.approx(244 / 3 + 0.5)
    lfwa = rows[rows["table"] == "field_lfwa"]
    assert list(lfwa["metric"]) == ["error", "label_accuracy"]
    assert lfwa.iloc[0]["published"] == 12.49 and lfwa.iloc[0]["label2label_mean"] == pytest.approx(100 - 244 / 3)
    md = (tmp_path / "ov/overview.md").read_text()
    assert "| Field: PETA (35 evaluated attributes) | mA | 71.00 ± 1.00 | 79.67 ± 0.58 | 81.33 ± 1.53 | 83.96 (FC Head) |" in md
    assert "| 1.67 ± 1.15 | 0.13 |" in md and "Rethinking_of_PAR README, PETA resnet50" in md
    attributes = [tmp_path / "results/field/tables" / t / "attributes.md" for t in tables]
    for f in attributes:
        f.write_text(f"per attribute of {f.parent.name}\n")
    run_id = log_to_mlflow(f"sqlite:///{tmp_path}/mlflow.db", "field", "field", rows, [tmp_path / "ov/overview.md", *attributes])
    from helpers import list_runs

    (run,) = list_runs(f"sqlite:///{tmp_path}/mlflow.db", "field")
    assert run.info.run_id == run_id and run.info.run_name == "field/overview"
    assert run.data.metrics["field_peta.label2label.mA"] == pytest.approx(244 / 3)
    assert run.data.metrics["field_peta.paired_diff.mA"] == pytest.approx(5 / 3)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")  # each table's attributes.md apart, none overwritten
    assert {a.path for a in client.list_artifacts(run_id)} == {"overview.md", "field_peta", "field_lfwa"}
    assert [a.path for a in client.list_artifacts(run_id, "field_lfwa")] == ["field_lfwa/attributes.md"]


def test_per_attribute_table_groups_attributes_and_gives_ma_where_it_is_the_headline(tmp_path):
    config = load_experiment(overrides=[f"results_dir={tmp_path}/results"])
    plans = _write_field_runs(config, ["field_peta", "field_lfwa"], _ma)
    rows = build_attribute_table(plans["field_peta"], None, tmp_path / "peta")
    l2l = rows[(rows["method"] == "label2label") & (rows["attribute"] == "accessoryHat")].set_index("metric")
    assert l2l.loc["accuracy", "mean"] == pytest.approx(244 / 3 + 2) and l2l.loc["mA", "mean"] == pytest.approx(244 / 3 - 2)
    assert l2l.loc["accuracy", "std"] == pytest.approx(pd.Series(list(L2L.values())).std()) and l2l.loc["accuracy", "n"] == 3
    assert dict(zip(rows["attribute"], rows["group"]))["upperBodyBlack"] == "upperBody"
    # the dataset's order (metrics.json "attributes"), not metrics.json's sorted keys
    assert list(dict.fromkeys(rows["attribute"])) == PETA_NAMES
    md = (tmp_path / "peta/attributes.md").read_text()
    assert "| personal | *mean of the group* | 71.50 | 70.50 |" in md  # FC Head: acc (71 + 72) / 2, mA (71 + 70) / 2
    assert "| accessory | accessoryHat | 73.00 ± 1.00 | 69.00 ± 1.00 |" in md
    face = build_attribute_table(plans["field_lfwa"], None, tmp_path / "lfwa")
    assert set(face["metric"]) == {"accuracy"} and set(face["group"]) == {"—"}  # error headline: no mA; no groups
    meta = tmp_path / "meta.yaml"
    meta.write_text("groups: {expression: [Smiling], identity: [Male]}\n")
    grouped = build_attribute_table(plans["field_lfwa"], meta, tmp_path / "lfwa2")
    assert dict(zip(grouped["attribute"], grouped["group"])) == {"Male": "identity", "Smiling": "expression"}


def test_attribute_groups_from_the_field_names():
    assert name_groups(["hs-BaldHead", "ub-Shirt", "lb-Jeans", "Female", "AgeLess16"]) == {
        "hs-BaldHead": "head", "ub-Shirt": "upper body", "lb-Jeans": "lower body", "Female": "person",
        "AgeLess16": "person"}
    from l2l.data.field_standins import PETA_EVAL, RAPV1_EVAL, RAPV2_EVAL, RAPZS_EVAL

    for names in (RAPV1_EVAL, RAPV2_EVAL, RAPZS_EVAL):  # the field's evaluated subsets as the releases spell them
        assert set(name_groups(names).values()) == {"head", "upper body", "lower body", "shoes", "attachments",
                                                    "action", "person"}
    assert set(name_groups(PETA_EVAL).values()) == {"accessory", "hair", "upperBody", "lowerBody", "footwear",
                                                    "carrying", "personal"}
    assert name_groups(["Female", "AgeOver60", "boots"]) == {"Female": "gender", "AgeOver60": "age", "boots": "shoes"}
    assert name_groups(["Male", "Smiling", "Bald"]) == {}


def test_a_run_without_per_attribute_values_is_one_line(tmp_path):
    config = load_experiment(overrides=[f"results_dir={tmp_path}/results"])
    plans = _write_field_runs(config, ["field_peta"], _ma)
    run = plans["field_peta"]["cells"][0]["runs"][0]
    (REPO.__class__(run) / "metrics.json").write_text(json.dumps({"test": {"error": 1.0}}))
    with pytest.raises(UserError, match=r"metrics.json: no test.per_attribute_accuracy"):
        build_attribute_table(plans["field_peta"], None, tmp_path / "x")


def test_the_gpu_hours_use_the_published_split_sizes(config):
    from l2l.plan import resources as R

    sizes = {n: R.split_sizes(config["datasets"][n]) for n in ("peta", "rapv1", "rapv2", "petazs", "rapzs", "celeba")}
    assert sizes["celeba"] == {"train": 162770, "val": 19867, "test": 19962}
    assert sizes["peta"] == {"train": 9500, "val": 1900, "test": 7600}
    assert sizes["rapv1"] == {"train": 33268 - 3327, "val": 3327, "test": 8317}  # val_fraction 0.1 of trainval
    assert sum(sizes["rapv2"].values()) == 84928
    assert (sizes["petazs"]["train"], sizes["rapzs"]["train"]) == (11241, 17062)


@pytest.mark.parametrize("source,where,files", [
    ("peta", "mmlab.ie.cuhk.edu.hk/projects/PETA", "no PETA.mat and no images/"),
    ("rapv1", "rapdataset", "no RAP_annotation/RAP_annotation.mat and no RAP_dataset/"),
    ("rapv2", "rapdataset", "no RAP_annotation/RAP_annotation.mat and no RAP_dataset/"),
    ("petazs", "Rethinking_of_PAR", "no dataset_zs_run0.pkl and no images/"),
    ("rapzs", "Rethinking_of_PAR", "no dataset_zs_run0.pkl and no RAP_dataset/"),
    ("celeba", "CelebA.html", "no list_attr_celeba.txt and no list_eval_partition.txt and no img_align_celeba/"),
])
def test_preflight_says_where_each_field_set_comes_from_and_which_files_it_lacks(tmp_path, source, where, files):
    from l2l import preflight as P
    from l2l.data.standins import write_standin

    config = load_experiment(overrides=[f"results_dir={tmp_path}/results"])
    d = config["datasets"][next(n for n, d in config["datasets"].items() if d["source"] == source)]
    config["datasets"] = {"x": {**d, "path": str(tmp_path / "release")}}
    missing = P.check_dataset(config, "x")
    assert "does not exist" in missing and where in missing and "\n" not in missing
    (tmp_path / "release").mkdir()
    assert files in P.check_dataset(config, "x")
    (tmp_path / "release").rmdir()
    write_standin(source, tmp_path / "release")  # the release's real layout
    assert P.check_dataset(config, "x") is None
