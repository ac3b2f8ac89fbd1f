"""Per-run resources of train jobs (l2l/plan/resources.py, docs/resources.md): from the resolved run and the
measured figures of results/benchmarks/, with a safety factor, a floor, a site speed factor and overrides."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from l2l.plan import Run
from l2l.plan import resources as R
from l2l.plan.experiment import load_experiment
from l2l.plan.suites import planners

REPO = Path(__file__).resolve().parents[1]
GPU = json.loads((REPO / "results/benchmarks/gpu.json").read_text())
MEM = json.loads((REPO / "results/benchmarks/host_memory.json").read_text())


def _estimate(config, dataset, backbone="resnet50", method="label2label", protocol="official"):
    plan = planners(config)[0]
    run = plan.resolved(Run(dataset, backbone, method, "base", protocol, 0, "paper"))
    return R.estimate(run, config["datasets"][dataset], config, dataset, prepared_dir=None)


def _row(method, batch):
    return next(r for r in GPU["rows"] if r["method"] == method and r["batch_size"] == batch and not r.get("compiled"))


def test_lfwa_official_is_the_documented_formula_on_the_measured_figures():
    """60 epochs x 6,263 images at the measured batch-16 img/s, the test split every epoch and once more."""
    e = _estimate(load_experiment(), "lfwa")
    row = _row("label2label", 16)
    seconds = GPU["overhead"]["total_s"] + 60 * (6263 / row["fast_train_img_s"] + 6880 / row["fast_eval_img_s"]) \
        + 6880 / row["fast_eval_img_s"]
    assert e.seconds == pytest.approx(seconds, rel=1e-9)
    assert e.runtime == max(15, math.ceil(2.0 * seconds / 60))
    assert e.mem_mb == max(2000, math.ceil(1.5 * (MEM["main_process_mb"] + R.cuda_host_mb())))


def test_pa100k_asks_more_than_lfwa_and_neither_the_old_global_value():
    config = load_experiment()
    pa, lfwa = _estimate(config, "pa100k"), _estimate(config, "lfwa")
    assert pa.runtime > lfwa.runtime
    assert pa.images_per_epoch == 90000 and lfwa.images_per_epoch == 6263
    for e in (pa, lfwa):
        assert e.runtime > 30 and e.mem_mb > 1500
    # batch 32 lies between the measured 16 and 64: its img/s too (power law), scaled to 256x192
    lo, hi = (_row("label2label", b)["fast_train_img_s"] * 250 * 250 / (256 * 192) for b in (16, 64))
    assert lo < pa.train_img_s < hi


def test_gpu_speed_safety_floor_and_overrides():
    config = load_experiment()
    base = _estimate(config, "pa100k")
    slow = _estimate({**config, "resources": {**config["resources"], "gpu_speed": 0.5}}, "pa100k")
    assert slow.runtime >= 1.9 * base.runtime
    demo = _estimate(config, "embedded", backbone="small_cnn", protocol="clean")
    assert demo.runtime == 15 and demo.mem_mb >= 2000  # the floor: a tiny run still gets start-up time
    fixed = {**config, "resources": {**config["resources"], "runtime": 45, "mem_mb": 3000}}
    assert (_estimate(fixed, "pa100k").runtime, _estimate(fixed, "pa100k").mem_mb) == (45, 3000)
    recipes = {**config["recipes"], "pa100k": {**config["recipes"]["pa100k"], "resources": {"runtime": 999, "gpu_speed": None}}}
    assert _estimate({**fixed, "recipes": recipes}, "pa100k").runtime == 999  # the recipe wins
    assert _estimate({**fixed, "recipes": recipes}, "lfwa").runtime == 45


def test_workers_without_cache_add_measured_memory():
    config = load_experiment()
    plan = planners(config)[0]
    run = plan.resolved(Run("pa100k", "resnet50", "fc_head", "base", "official", 0, "paper"))
    run["data"]["cache"], run["train"]["num_workers"] = False, 4
    with_workers = R.host_memory_mb(run, R.split_sizes(config["datasets"]["pa100k"]))
    run["train"]["num_workers"] = 0
    assert with_workers - R.host_memory_mb(run, R.split_sizes(config["datasets"]["pa100k"])) == \
        pytest.approx(4 * MEM["per_worker_mb"])


def test_module_is_torch_free():
    code = "import sys, l2l.plan.resources, l2l.plan.suites; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_slurm_profile_passes_the_rule_resources_unchanged():
    """set-resources would override the rule's per-run runtime / mem_mb; default-resources only fills in."""
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    train = (profile.get("set-resources") or {}).get("train") or {}
    assert not {"runtime", "mem_mb", "mem_mb_per_cpu", "time"} & set(train)
    train_rule = (REPO / "workflow/rules/train.smk").read_text()
    assert "mem_mb=train_mem_mb" in train_rule and "runtime=train_runtime" in train_rule
