"""The planning layer (l2l.plan) on the repository's own config files, without Snakemake: run configs,
protocols, the two-stage edge, cache files, the paper tables' runs, dataset rules' arguments."""

import re
import subprocess
import sys
import time

import pytest
import yaml

from l2l.errors import UserError
from l2l.plan import Planner, Run, TablePlanner, datasets
from l2l.plan.experiment import CONFIG_FILES, load_experiment

from helpers import REPO

RUN_DIR = "R/runs/{dataset}/{backbone}/{method}/{variant}/{protocol}/seed{seed}"


def _planner(*overrides, configfiles=()):
    config = load_experiment(configfiles, overrides)
    return Planner(config, RUN_DIR.format, "R/datasets/{dataset}".format)


@pytest.fixture(scope="module")
def plan():
    return _planner()


def test_importing_the_plan_never_imports_torch():
    code = "import l2l.plan, l2l.plan.experiment, l2l.schema, l2l.methods, sys; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_config_files_are_the_snakefiles():
    snakefile = (REPO / "Snakefile").read_text()
    assert tuple(re.findall(r'configfile: os.path.join\(workflow.basedir, "([^"]+)"\)', snakefile)) == CONFIG_FILES


def test_default_grid_is_the_demo_under_clean(plan):
    runs = plan.grid()
    assert len(runs) == 9 and {r.protocol for r in runs} == {"clean"} and {r.variant for r in runs} == {"base"}
    cfg = plan.run_config(Run("embedded", "small_cnn", "aqn", "base", "clean", 2))
    assert cfg["protocol"] == "clean" and cfg["seed"] == 2 and cfg["method"] == "aqn"
    assert cfg["data"]["path"] == "R/datasets/embedded"
    assert cfg["model"]["ffn_dim"] == 256 and cfg["train"]["epochs"] == 8  # config/config.yaml
    assert cfg["tracking"] == {"uri": "sqlite:///results/mlflow.db", "experiment": "embedded_demo"}
    assert not cfg["model"]["init_from"]


def test_recipes_reach_the_run_configs(plan):
    def cfg(dataset, backbone="resnet50"):
        return plan.run_config(Run(dataset, backbone, "label2label", "base", "clean", 0))

    lfwa, pa, clothing = cfg("lfwa"), cfg("pa100k"), cfg("clothing", "alexnet")
    assert lfwa["train"].items() >= {"epochs": 60, "batch_size": 16, "lr": 0.01, "weight_decay": 0.001,
                                     "optimizer": "sgd", "scheduler": "cosine", "mixup_alpha": 0.5}.items()
    assert lfwa["data"]["image_size"] == [250, 250] and lfwa["data"]["augment"] == ["randaugment_official", "hflip"]
    assert pa["train"].items() >= {"epochs": 25, "lr": 0.01, "head_lr": 0.1, "scheduler": "plateau",
                                   "loss_weighting": "pa100k"}.items()
    assert pa["data"]["train_splits"] == ["train"] and pa["data"]["image_size"] == [256, 192]  # clean: val held out
    assert clothing["model"]["aqn_layers"] == 2 and clothing["train"]["lr"] == 0.05


def test_protocol_block_merges_after_the_recipe_and_names_the_folder(tmp_path):
    extra = tmp_path / "p.yaml"
    extra.write_text(yaml.safe_dump({"recipes": {"lfwa": {"protocols": {
        "official": {"train": {"epochs": 60, "selection": "best_test"}, "model": {"freeze_bn": True}},
        "clean": {"train": {"epochs": 59}}}}}}))
    plan = _planner(configfiles=[extra])
    official = plan.run_config(Run("lfwa", "resnet50", "label2label", "base", "official", 0))
    clean = plan.run_config(Run("lfwa", "resnet50", "label2label", "base", "clean", 0))
    assert official["train"]["epochs"] == 60 and official["model"]["freeze_bn"] is True
    assert official["train"]["batch_size"] == 16  # the recipe's shared keys stay
    assert clean["train"]["epochs"] == 59 and clean["train"]["selection"] == "best_val"
    assert official["protocol"] == "official" and clean["protocol"] == "clean"
    tables = TablePlanner(plan)
    assert TablePlanner(_planner("protocol=clean", configfiles=[extra])).plan("paper", "table8")["protocol"] == "clean"
    runs = tables.runs("paper", "table8")  # the paper suite defaults to official
    assert runs[0] == "R/runs/lfwa/resnet50/label2label/base/official/seed0"


def test_clean_never_selects_on_the_test_split(tmp_path):
    extra = tmp_path / "leak.yaml"
    # in the clean block itself (the shared recipe keys are overridden by the clean block's own selection)
    extra.write_text(yaml.safe_dump({"recipes": {"lfwa": {"protocols": {"clean": {"train": {"selection": "best_test"}}}}}}))
    plan = _planner(configfiles=[extra])
    assert plan.run_config(Run("lfwa", "resnet50", "aqn", "base", "official", 0))["train"]["selection"] == "best_test"
    with pytest.raises(UserError, match="protocol clean never selects .*train.selection=best_test"):
        plan.run_config(Run("lfwa", "resnet50", "aqn", "base", "clean", 0))
    with pytest.raises(UserError, match="protocol clean"):
        TablePlanner(_planner("protocol=clean", configfiles=[extra])).plan("paper", "table5")
    extra.write_text(yaml.safe_dump({"recipes": {"lfwa": {"protocols": {"clean": {"data": {"val_split": "test"}}}}}}))
    with pytest.raises(UserError, match="val_split=test equals data.test_split"):
        _planner(configfiles=[extra]).run_config(Run("lfwa", "resnet50", "aqn", "base", "clean", 0))


@pytest.mark.parametrize("protocol", ["official", "clean"])
def test_table5_and_table9_plan_under_both_protocols(protocol):
    tables = TablePlanner(_planner(f"protocol={protocol}"))
    for table, dataset in (("table5", "lfwa"), ("table9", "pa100k")):
        plan = tables.plan("paper", table)
        assert plan["protocol"] == protocol and plan["dataset"] == dataset
        assert all(f"/{protocol}/seed" in r for r in tables.runs("paper", table))
    macs = tables.macs_runs("paper", "table5")
    assert {(r.backbone, r.method) for r in macs} == {(b, m) for b in ("resnet50", "resnet101", "vit_b_16")
                                                       for m in ("fc_head", "aqn", "label2label")}
    assert next(r for r in macs if r.backbone == "vit_b_16").variant == "data.image_size=224x224"


def test_ablation_suite_shares_runs_and_keeps_the_demo_protocol(plan):
    tables = TablePlanner(plan)
    names = tables.tables("ablations")
    assert names == [f"table{i}" for i in range(1, 11)]
    runs = {r for t in names for r in tables.runs("ablations", t)}
    assert len(runs) == 50  # the ablation demo's 50 train jobs: cells shared between tables train once
    assert all("/clean/" in r for r in runs)
    a = tables.attention_run("ablations")
    assert (a.dataset, a.backbone, a.method, a.protocol) == ("embedded_ablation", "small_cnn", "label2label", "clean")


def test_two_stage_edge_and_its_variant(plan):
    """Every two-stage run depends on the AQN run of its seed, variant minus the refiner-only keys."""
    for method in ("mlm_mlp", "mlm_encoder", "icmlm_2stage"):
        for seed in (0, 1):
            run = Run("embedded_ablation", "small_cnn", method, "mask_ratio=0.2,mlm_layers=3", "clean", seed)
            first = plan.stage_one(run)
            assert first == Run("embedded_ablation", "small_cnn", "aqn", "base", "clean", seed)
            model = f"R/runs/embedded_ablation/small_cnn/aqn/base/clean/seed{seed}/model.pt"
            assert plan.stage_one_model(run) == model
            assert plan.run_config(run)["model"]["init_from"] == model
    assert plan.stage_one(Run("embedded", "small_cnn", "aqn", "base", "clean", 0)) is None
    aqn2 = Run("embedded", "small_cnn", "icmlm_2stage", "aqn_layers=2,mlm_layers=3", "official", 0)
    assert plan.stage_one(aqn2).variant == "aqn_layers=2" and plan.stage_one(aqn2).protocol == "official"


def test_cache_files_follow_the_resolved_data_config(plan):
    def caches(dataset, backbone="resnet50"):
        return plan.cache_files(Run(dataset, backbone, "aqn", "base", "clean", 0))

    assert caches("lfwa") == [f"R/datasets/lfwa/cache/{s}_250x250.npy" for s in ("train", "val", "test")]
    assert caches("pa100k") == [f"R/datasets/pa100k/cache/{s}_256x192.npy" for s in ("train", "val", "test")]
    assert caches("clothing", "alexnet") == [f"R/datasets/clothing/cache/{s}_224x224.npy" for s in ("train", "test")]
    assert plan.cache_files(Run("lfwa", "vit_b_16", "aqn", "data.image_size=224x224", "clean", 0))[0].endswith(
        "train_224x224.npy")
    assert plan.cache_files(Run("embedded", "small_cnn", "aqn", "data.cache=false", "clean", 0)) == []


def test_dataset_rule_arguments(plan):
    d = plan.config["datasets"]
    assert datasets.prepare_args(d, "lfwa") == ["lfwa", "--seed", "0", "--name", "lfwa", "--check-images", "decode",
                                                "--val-fraction", "0.1"]
    url = "https://stacks.stanford.edu/file/druid:tb980qz1002/ClothingAttributeDataset.zip"
    assert datasets.prepare_source(d, "clothing", "D") == "D/clothing/ClothingAttributeDataset.zip"
    # the URL never reaches a command line: download and prepare read it from a file
    assert url not in " ".join(datasets.prepare_args(d, "clothing") + datasets.download_args(d, "clothing"))
    assert datasets.url_file_input(d, "clothing", "D") == ["D/clothing/source_url.txt"]
    assert datasets.url_file_input(d, "lfwa", "D") == []
    assert datasets.prepare_source(d, "lfwa", "D") == "data/lfwa"
    assert datasets.datasets_of_source(d, "embedded") == ["embedded", "embedded_ablation"]
    assert datasets.datasets_of_source(d, *datasets.PREPARED_SOURCES) == [
        "lfwa", "pa100k", "clothing", "peta", "rapv1", "rapv2", "petazs", "rapzs", "celeba", "pa100k_par"]  # + config/field.yaml
    assert datasets.prepare_args(d, "rapv1")[-6:] == ["--val-fraction", "0.1", "--attributes", "eval", "--partition", "0"]
    assert datasets.datasets_with_url(d) == ["clothing"]
    assert datasets.embedded_args(d, "embedded")[:2] == ["--n-train", "3000"]


def test_config_strings_are_coerced_as_snakemake_passes_them():
    """`snakemake --config seeds='[0,1,2,3,4]' protocol=null` hands over strings."""
    config = load_experiment((), ["seeds=[0,1,2,3,4]", "protocol=null"])
    assert config["seeds"] == [0, 1, 2, 3, 4] and config["protocol"] is None
    config = load_experiment((), [])
    config["seeds"] = ["0", "1"]  # what Snakemake's BaseLoader makes of the list
    from l2l.schema import validate_config
    assert validate_config(config)["seeds"] == [0, 1]


@pytest.mark.parametrize("override, message", [
    ("protocol=leaky", "key protocol must be one of official, clean"),
    ("seeds=[a]", "key seeds.0 must be of type integer"),
    ("methods=[fc_head,mlp]", "key methods.1 must be one of fc_head, aqn"),
])
def test_bad_experiment_config_is_one_line_naming_the_key(override, message):
    with pytest.raises(UserError, match=re.escape(message)) as e:
        load_experiment((), [override])
    assert "\n" not in str(e.value)


def test_anchor_bomb_is_refused_fast(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines + ["experiment: *i"]) + "\n")  # 9**9 values from 339 bytes
    start = time.perf_counter()
    with pytest.raises(UserError, match="expands to more than"):
        load_experiment([bomb])
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("protocol", ["official", "clean"])
def test_snakemake_dry_run_of_table5_and_table9_carries_the_protocol(tmp_path, protocol):
    """The one real Snakemake check of the plan: the train jobs get the planned run configs."""
    import json
    import shlex

    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "-n", "-p", "table5", "table9", "--config", f"protocol={protocol}"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    cfgs = []
    for line in res.stdout.splitlines():
        if "l2l train --config-json" in line:
            args = shlex.split(line[line.index("l2l train"):].split(" >> ")[0])
            cfgs.append((json.loads(args[args.index("--config-json") + 1]), args[args.index("--out") + 1]))
    datasets = {c["data"]["path"].rsplit("/", 1)[-1] for c, _ in cfgs}
    assert len(cfgs) == 27 + 9 and datasets == {"lfwa", "pa100k"}  # 9 cells x 3 seeds, 3 x 3
    for cfg, out in cfgs:
        assert cfg["protocol"] == protocol and f"/{protocol}/seed{cfg['seed']}" in out
        if protocol == "clean":
            data = cfg["data"]
            assert cfg["train"].get("selection") != "best_test" and data.get("val_split") != data.get("test_split")
