"""Per-run resources (runtime, host memory, GPU-hours) from the resolved run config and measured figures.

A SLURM job's ``runtime`` is its time limit and ``mem_mb`` its cgroup memory: one global value either kills
the long runs (PA-100K, 25 epochs x 90,000 images) or wastes the queue on the short ones. So each train job
asks for what its own run needs, from measurements, not guesses (docs/resources.md):

    seconds  = overhead + epochs x (train images / train img/s + per-epoch eval images / eval img/s)
               + final test images / eval img/s
    img/s    = measured on the reference GPU (results/benchmarks/gpu.json: ResNet-50, 250x250, batch 16 and
               64, per method) x (250 x 250) / (H x W) / relative MACs of the backbone
               x batch scaling (power law through the two measured batches) x resources.gpu_speed
    runtime  = max(runtime_floor, ceil(safety x seconds / 60))                         minutes
    mem_mb   = max(mem_floor, ceil(mem_safety x (main process + CUDA host + workers x per worker
               + preloaded images)))                      (results/benchmarks/host_memory*.json)

Overrides: ``resources.runtime`` / ``resources.mem_mb`` set (not null) fix the value of every train job;
``recipes.<dataset>.resources`` (runtime, mem_mb, gpu_speed, safety) per dataset recipe wins over both.
Torch-free: Snakemake's resource functions (common.smk) and the preflight only call this.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l2l import packaged
from l2l.errors import UserError

REF_PIXELS = 250 * 250  # gpu.json's ResNet-50 input
MEASURED_METHODS = ("fc_head", "aqn", "label2label")
# multiply-accumulates per image relative to ResNet-50 at the same input: an extrapolation from ResNet-50.
# ResNet-101 and ViT-B from the paper's Table 5 (whole Label2Label model: 6.30 / 11.16 / 17.23 GMACs), the
# others from torchvision's GFLOPS at 224 (resnet18 1.81, resnet34 3.66, resnet50 4.09, resnet152 11.51,
# alexnet 0.71); small_cnn / small_cnn_wide counted from their four 3x3 convolutions
RELATIVE_MACS = {"resnet18": 1.81 / 4.09, "resnet34": 3.66 / 4.09, "resnet50": 1.0, "resnet101": 11.16 / 6.30,
                 "resnet152": 11.51 / 4.09, "alexnet": 0.71 / 4.09, "vit_b_16": 17.23 / 6.30,
                 "small_cnn": 0.06, "small_cnn_wide": 0.24}
# published split sizes of the paper's datasets (before the clean protocol carves val out of train)
KNOWN_SIZES = {"lfwa": {"train": 6263, "val": 0, "test": 6880},
               "pa100k": {"train": 80000, "val": 10000, "test": 10000},
               "clothing": {"total": 1856},
               # the field's sets (issue 25; docs/datasets.md): official partition 0 as released; RAPv1 has
               # train / test only (its clean val is carved from train, datasets.rapv1.val_fraction)
               "peta": {"train": 9500, "val": 1900, "test": 7600},
               "rapv1": {"train": 33268, "val": 0, "test": 8317},
               "rapv2": {"train": 50957, "val": 16986, "test": 16985},
               "petazs": {"train": 11241, "val": 3826, "test": 3933},
               "rapzs": {"train": 17062, "val": 4648, "test": 4928},
               "celeba": {"train": 162770, "val": 19867, "test": 19962}}
EMBEDDED_DEFAULT = {"n_train": 3000, "n_val": 500, "n_test": 1000}
UNKNOWN_TRAIN_IMAGES = 10000  # a csv dataset not prepared yet: assumed size (documented; override per recipe)
DEFAULTS = {"gpu_speed": 1.0, "safety": 2.0, "mem_safety": 1.5, "runtime_floor": 15, "mem_floor": 2000}


@functools.lru_cache(maxsize=None)
def _json(name: str) -> dict[str, Any]:
    """A measurement l2l ships (l2l/defaults/benchmarks/, copied from results/benchmarks/)."""
    if not packaged.has(f"benchmarks/{name}"):
        raise UserError(f"l2l/defaults/benchmarks/{name} is missing: the resource estimates need it (run "
                        f"benchmarks/gpu.sh on the reference GPU / python -m benchmarks.host_memory, then copy the "
                        f"result there), or set resources.runtime and resources.mem_mb")
    return json.loads(packaged.text(f"benchmarks/{name}"))


def reference_card() -> str:
    """The GPU the throughput figures were measured on (gpu.json's machine.gpu)."""
    return _json("gpu.json")["machine"]["gpu"]


def measured_throughput(method: str, batch: int, fast: bool = True) -> tuple[float, float]:
    """(train, eval) img/s of ResNet-50 at 250x250 on the reference GPU for ``method`` at ``batch``.

    Between/outside the measured batches: power law through the two nearest measured ones; above the
    largest, its figure (no extrapolated speed-up). A method without its own row is priced as the
    slowest measured one (label2label)."""
    rows = [r for r in _json("gpu.json")["rows"]
            if r["method"] == (method if method in MEASURED_METHODS else "label2label") and not r.get("compiled")]
    key = "fast" if fast else "plain"
    by_batch = sorted((r["batch_size"], r[f"{key}_train_img_s"], r[f"{key}_eval_img_s"]) for r in rows)
    if not by_batch:
        raise UserError(f"results/benchmarks/gpu.json has no rows for {method}")
    (b0, t0, e0), (b1, t1, _) = by_batch[0], by_batch[-1]
    if batch >= b1 or b0 == b1:
        row = by_batch[-1] if batch >= b1 else by_batch[0]
        return row[1], row[2]
    k = math.log(t1 / t0) / math.log(b1 / b0)
    return t0 * (batch / b0) ** k, e0  # eval runs at its own batch (eval_batch_size): one figure


def split_sizes(dataset: Mapping[str, Any], prepared_dir: str | None = None) -> dict[str, int]:
    """Images per split: the prepared labels.csv if present, else the published sizes / the generator's."""
    if prepared_dir and (Path(prepared_dir) / "labels.csv").is_file():
        counts: dict[str, int] = {"train": 0, "val": 0, "test": 0}
        with open(Path(prepared_dir) / "labels.csv") as f:
            header = f.readline().rstrip("\n").split(",")
            col = header.index("split") if "split" in header else None
            for line in f:
                if col is not None:
                    s = line.split(",")[col].strip()
                    counts[s] = counts.get(s, 0) + 1
        if sum(counts.values()):
            return counts
    source = dataset.get("source", "csv")
    if source == "embedded":
        e = {**EMBEDDED_DEFAULT, **(dataset.get("embedded") or {})}
        return {"train": e["n_train"], "val": e["n_val"], "test": e["n_test"]}
    if source == "clothing":
        train = int(dataset.get("train_size") or 1500)
        return {"train": train, "val": 0, "test": KNOWN_SIZES["clothing"]["total"] - train}
    if source in KNOWN_SIZES:
        sizes = dict(KNOWN_SIZES[source])
        if not sizes["val"]:  # the val split is carved from train (datasets.<name>.val_fraction: lfwa, rapv1)
            val = round(sizes["train"] * float(dataset.get("val_fraction") or 0))
            sizes = {"train": sizes["train"] - val, "val": val, "test": sizes["test"]}
        return sizes
    return {"train": UNKNOWN_TRAIN_IMAGES, "val": UNKNOWN_TRAIN_IMAGES // 10, "test": UNKNOWN_TRAIN_IMAGES // 5}


@dataclass(frozen=True)
class Estimate:
    """What one train job asks for, and the terms it came from (printed by the preflight)."""

    seconds: float      # on the reference card x gpu_speed, before the safety factor
    runtime: int        # minutes (job time limit)
    mem_mb: int         # host memory
    train_img_s: float
    images_per_epoch: int
    eval_images_per_epoch: int

    @property
    def gpu_hours(self) -> float:
        return self.seconds / 3600


def _settings(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    res = {**DEFAULTS, **{k: v for k, v in (config.get("resources") or {}).items() if v is not None}}
    recipe = ((config.get("recipes") or {}).get(dataset) or {}).get("resources") or {}
    return {**res, **{k: v for k, v in recipe.items() if v is not None}}


def estimate_seconds(run: Mapping[str, Any], sizes: Mapping[str, int], gpu_speed: float = 1.0) -> tuple[float, float, int, int]:
    """(seconds, train img/s, train images per epoch, eval images per epoch) of one resolved run."""
    t, d = run["train"], run["data"]
    backbone = run["backbone"]
    if backbone not in RELATIVE_MACS:
        raise UserError(f"no relative cost for backbone '{backbone}' in l2l/plan/resources.py RELATIVE_MACS; "
                        f"add it, or set resources.runtime")
    if gpu_speed <= 0:
        raise UserError(f"resources.gpu_speed must be > 0, got {gpu_speed}")
    h, w = d["image_size"]
    train_ips, eval_ips = measured_throughput(run["method"], int(t["batch_size"]), bool(d.get("cache", True)))
    scale = REF_PIXELS / (h * w) / RELATIVE_MACS[backbone] * gpu_speed
    train_ips, eval_ips = train_ips * scale, eval_ips * scale
    n_train = sum(sizes.get(s, 0) for s in d["train_splits"])
    need_test = t.get("selection") == "best_test" or t.get("selection_per_metric") or \
        (t.get("scheduler") == "plateau" and str(t.get("plateau_on", "")).startswith("test_"))
    n_eval = (sizes.get("val", 0) if d.get("val_split") else 0) + (sizes.get(d["test_split"], 0) if need_test else 0)
    overhead = _json("gpu.json").get("overhead", {}).get("total_s", 20.0)
    seconds = overhead + t["epochs"] * (n_train / train_ips + n_eval / eval_ips) + sizes.get(d["test_split"], 0) / eval_ips
    return seconds, train_ips, n_train, n_eval


def host_memory_mb(run: Mapping[str, Any], sizes: Mapping[str, int]) -> float:
    """Peak host memory of the job before the safety factor (benchmarks/host_memory.py's figures)."""
    own = f"host_memory_{run['backbone']}.json"  # a backbone measured on its own (the demo's small CNNs)
    cpu = _json(own if packaged.has(f"benchmarks/{own}") else "host_memory.json")
    mb = float(cpu["main_process_mb"])
    if str(run["train"].get("device", "auto")) != "cpu":
        mb += cuda_host_mb()
    d = run["data"]
    if not d.get("cache", True):
        per_worker = cpu.get("per_worker_mb") or _json("host_memory.json")["per_worker_mb"] or 0
        mb += int(run["train"].get("num_workers", 0)) * float(per_worker)
        h, w = d["image_size"]
        if sum(sizes.values()) <= 20000 and h * w <= 64 * 64:  # the engine preloads decoded images
            mb += sum(sizes.values()) * 3 * h * w / 2**20
    return mb


CUDA_HOST_MB = 2048  # NOT measured (no GPU where this was written): used until host_memory_cuda.json exists


def cuda_host_mb() -> float:
    """Extra host memory of a CUDA process over the CPU one: measured (``python -m benchmarks.host_memory
    --device cuda`` writes host_memory_cuda.json) where available, else the stated placeholder."""
    if packaged.has("benchmarks/host_memory_cuda.json"):
        return max(0.0, float(_json("host_memory_cuda.json")["main_process_mb"]) - float(_json("host_memory.json")["main_process_mb"]))
    return float(CUDA_HOST_MB)


def estimate(run: Mapping[str, Any], dataset: Mapping[str, Any], config: Mapping[str, Any],
             dataset_name: str, prepared_dir: str | None = None) -> Estimate:
    """Runtime (min) and mem_mb of one resolved run (``PLAN.resolved(run)``), overrides applied."""
    s = _settings(config, dataset_name)
    sizes = split_sizes(dataset, prepared_dir)
    seconds, ips, n_train, n_eval = estimate_seconds(run, sizes, float(s["gpu_speed"]))
    runtime = s.get("runtime") or max(int(s["runtime_floor"]), math.ceil(float(s["safety"]) * seconds / 60))
    mem = s.get("mem_mb") or max(int(s["mem_floor"]), math.ceil(float(s["mem_safety"]) * host_memory_mb(run, sizes)))
    return Estimate(seconds, int(runtime), int(mem), ips, n_train, n_eval)
