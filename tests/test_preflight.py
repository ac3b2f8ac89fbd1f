"""The preflight (l2l/preflight.py, workflow/rules/preflight.smk): every problem of a target at once, one line
each with its fix, before any train job; results/<suite>/preflight.md plans the runs and GPU-hours."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from realformats import make_clothing, make_lfwa, make_pa100k

from l2l import preflight as P
from l2l import weights as W
from l2l.plan.experiment import load_experiment

REPO = Path(__file__).resolve().parents[1]
PAPER_WEIGHTS = ["timm/resnet50.ram_in1k.safetensors", "torchvision/resnet101-63fe2227.pth", "torchvision/vit_b_16-c867db91.pth",
                 "torchvision/resnet50-0676ba61.pth", "torchvision/alexnet-owt-7be5be79.pth"]


@pytest.mark.slow
def test_paper_without_data_stops_before_any_job_and_names_every_dataset(tmp_path):
    """A clean clone with no data, no weights, no internet: `snakemake --cores 2 paper` fails in the preflight."""
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                          "--cores", "2", "paper"], capture_output=True, text=True, timeout=400)
    elapsed = time.monotonic() - t0
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    problems = [line for line in out.splitlines() if line.startswith("preflight paper: PROBLEM: ")]
    for name, fix in (("lfwa", "set datasets.lfwa.path"), ("pa100k", "set datasets.pa100k.path"),
                      ("clothing", "datasets.clothing.path")):
        assert any(line.startswith(f"preflight paper: PROBLEM: dataset {name}: ") and fix in line for line in problems), out[-4000:]
    assert any("weights timm/resnet50.ram_in1k.safetensors" in line and "no internet" in line for line in problems)
    assert "rule train:" not in out and not (tmp_path / "results/paper/runs").exists()
    log = (tmp_path / "results/paper/logs/preflight.log").read_text()  # the problems stay in the log
    assert log.count("PROBLEM: dataset") == 3
    kept = tmp_path / "results/paper/logs/preflight.md"  # the plan survives the failed rule, where the last line says
    assert f"report: results/paper/logs/preflight.md" in out and "GPU-hours" in kept.read_text()
    print(f"snakemake --cores 2 paper failed in the preflight after {elapsed:.0f} s")


def _ready_config(tmp_path, mirror_files=PAPER_WEIGHTS):
    make_lfwa(tmp_path / "src/lfwa")
    make_pa100k(tmp_path / "src/pa")
    make_clothing(tmp_path / "src/clothing", n=12)
    mirror = tmp_path / "mirror"
    for f in mirror_files:  # the preflight checks that the mirror holds each file, the fetch reads them
        (mirror / f).parent.mkdir(parents=True, exist_ok=True)
        (mirror / f).write_bytes(b"x")
    overrides = {"results_dir": str(tmp_path / "results"), "weights_mirror": str(mirror),
                 "datasets": {"lfwa": {"path": str(tmp_path / "src/lfwa")}, "pa100k": {"path": str(tmp_path / "src/pa")},
                              "clothing": {"url": None, "path": str(tmp_path / "src/clothing")}}}
    path = tmp_path / "ready.yaml"
    path.write_text(yaml.safe_dump(overrides))
    return load_experiment([path])


def test_ready_paper_passes_and_reports_gpu_hours(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "_free_bytes", lambda path: 10**15)  # this machine's disk is not the question here
    config = _ready_config(tmp_path)
    out = tmp_path / "results/paper/preflight.md"
    result = P.run(config, "paper", str(out), local=False)
    assert result.ok, result.problems
    assert result.tables["total"]["runs"] == 102
    assert result.tables["table9"]["gpu_hours"] > result.tables["table10"]["gpu_hours"] > 0
    # Table 8 has only runs of Table 5: counted in both tables, once in the total
    assert result.tables["table8"]["runs"] > 0
    assert sum(t["runs"] for n, t in result.tables.items() if n != "total") > 102
    text = out.read_text()
    assert "OK: no problem found" in text and "| **total** |" in text and "NVIDIA H100 80GB HBM3" in text


def test_every_problem_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "_free_bytes", lambda path: 10**9)  # 1 GB free: far too little for 102 checkpoints
    config = _ready_config(tmp_path, mirror_files=PAPER_WEIGHTS[1:])
    (tmp_path / "src/pa/annotation.mat").unlink()
    result = P.check(config, "paper", local=False)
    text = "\n".join(result.problems)
    assert len(result.problems) == 3, text
    assert "dataset pa100k: " in text and "no annotation.mat" in text
    assert "weights timm/resnet50.ram_in1k.safetensors" in text and "weights_mirror" in text
    assert "disk: " in text and "GB free" in text


def test_a_table_target_checks_its_own_runs_only(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "_free_bytes", lambda path: 10**15)
    config = _ready_config(tmp_path)
    (tmp_path / "src/pa/annotation.mat").unlink()
    assert P.check(config, "table10", local=False).ok  # PA-100K is not table10's
    assert not P.check(config, "table9", local=False).ok


def test_no_gpu_for_gpu_hours_is_a_problem_locally_only(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "_free_bytes", lambda path: 10**15)
    monkeypatch.setattr(P, "gpu_count", lambda: 0)
    config = _ready_config(tmp_path)
    local = P.check(config, "table9", local=True)
    assert len(local.problems) == 1 and local.problems[0].startswith("no GPU visible on this machine")
    assert P.check(config, "table9", local=False).ok  # on a cluster the nodes have the GPUs
    ablations = P.check(load_experiment(), "ablations", local=True)  # minutes of small CNNs: a note, not a problem
    assert not any("GPU" in p for p in ablations.problems)


def test_cli_exits_nonzero_with_one_line_per_problem(tmp_path):
    res = subprocess.run([sys.executable, "-m", "l2l", "preflight", "table10", "--cluster", "--config",
                          f"results_dir={tmp_path}/results"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert any(line.startswith("preflight table10: PROBLEM: dataset clothing:") for line in lines), res.stderr
    assert (tmp_path / "results/paper/preflight.md").is_file()
