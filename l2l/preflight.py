"""Preflight of a target before any train job: every problem at once, one line each with its fix.

Before 102 train jobs go to a cluster, check what would make them fail late: datasets not present (or not
reachable for a download), the optional packages the planned runs need (timm), pretrained weights not
available offline (docs/weights.md), no GPU where the runs expect one, too little disk for the planned
checkpoints and image caches. Also writes what the target plans: runs and GPU-hours per table on the
reference card (l2l.plan.resources, the same figures as the train jobs' runtimes). `l2l preflight
<target>` and the workflow's local `preflight` rule (workflow/rules/preflight.smk) call :func:`check`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l2l.errors import UserError
from l2l.plan import resources
from l2l.plan.suites import planners, suite_of_target, target_runs

GPU_HOURS_WITHOUT_GPU = 1.0  # more than this on the reference card, with no GPU visible locally: a problem
CONCURRENT_JOBS = 8  # resume.ckpt files in flight at once (the disk estimate's upper bound)
KNOWN_ATTRIBUTES = {"lfwa": 40, "pa100k": 26, "clothing": 23}
INSTALL_TIMM = "pip install -c requirements.lock -e '.[timm]' (the README's install command includes it)"


@dataclass
class Preflight:
    """The result: problems (each one line with its fix), notes, and the plan's figures for the report."""

    target: str
    experiment: str
    protocol: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_REACH: dict[str, str | None] = {}


def unreachable(url: str, timeout: float = 5.0) -> str | None:
    """None if ``url``'s host answers (any HTTP status), else the reason; one probe per host."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return None if Path(urllib.request.url2pathname(parsed.path)).exists() else "no such file"
    host = f"{parsed.scheme}://{parsed.netloc}"
    if host not in _REACH:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            _REACH[host] = None
        except urllib.error.HTTPError:
            _REACH[host] = None  # the host answered
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            _REACH[host] = _one_line(getattr(e, "reason", e))
    return _REACH[host]


# -- datasets -------------------------------------------------------------------------------------------
def source_instructions(source: str) -> str:
    """Where a dataset of ``source`` comes from and the files its folder must hold (the preparer's text)."""
    from l2l.data.prepare import MODULES

    return getattr(MODULES.get(source), "INSTRUCTIONS", "")


# the field's releases: (what, paths any one of which must be there) per source (l2l/data/prepare/*.py)
_FIELD_FILES = {
    "peta": [("PETA.mat", ["PETA.mat"]), ("images/", ["images"])],
    "rapv1": [("RAP_annotation/RAP_annotation.mat", ["RAP_annotation/RAP_annotation.mat", "RAP_annotation.mat"]),
              ("RAP_dataset/", ["RAP_dataset"])],
    "petazs": [("dataset_zs_run0.pkl", ["dataset_zs_run0.pkl"]), ("images/", ["images"])],
    "rapzs": [("dataset_zs_run0.pkl", ["dataset_zs_run0.pkl"]), ("RAP_dataset/", ["RAP_dataset"])],
    "celeba": [("list_attr_celeba.txt", ["list_attr_celeba.txt", "Anno/list_attr_celeba.txt"]),
               ("list_eval_partition.txt", ["list_eval_partition.txt", "Eval/list_eval_partition.txt",
                                            "Anno/list_eval_partition.txt"]),
               ("img_align_celeba/", ["img_align_celeba", "Img/img_align_celeba"])],
}
_FIELD_FILES["rapv2"] = _FIELD_FILES["rapv1"]


def _official_files(source: str, root: Path) -> str | None:
    """What the preparer will miss in a source folder (its official file names), None when complete."""
    if root.is_file():  # an archive: the preparer checks its members when it unpacks it
        return None
    if source == "lfwa":
        from l2l.data.prepare.lfwa import LIST_NAMES

        missing = [s for s, names in LIST_NAMES.items() if not any((root / n).is_file() for n in names)]
        return f"no {' / '.join(missing)} list ({', '.join(LIST_NAMES[missing[0]])})" if missing else None
    if source == "pa100k":
        ann = any((root / n).is_file() for n in ("annotation.mat", "annotation/annotation.mat"))
        missing = [n for n, ok in (("annotation.mat", ann), ("data/", (root / "data").is_dir())) if not ok]
        return f"no {' and '.join(missing)}" if missing else None
    if source == "clothing":
        labels = next((root / d for d in ("labels", "ClothingAttributeDataset/labels") if (root / d).is_dir()), None)
        if labels is None or not list(labels.glob("*_GT.mat")):
            return "no labels/<attribute>_GT.mat"
        return None
    if source in _FIELD_FILES:
        missing = [what for what, paths in _FIELD_FILES[source] if not any((root / p).exists() for p in paths)]
        return f"no {' and no '.join(missing)}" if missing else None
    return None


def check_dataset(config: Mapping[str, Any], name: str) -> str | None:
    """One problem line for a dataset that is neither prepared nor preparable here, else None."""
    from l2l.plan import datasets as plan_datasets

    results, d = config["results_dir"], config["datasets"][name]
    if (Path(results) / "datasets" / name / "meta.yaml").is_file() or d["source"] == "embedded":
        return None
    instructions = _one_line(source_instructions(d["source"]))
    if d.get("url"):
        download = Path(plan_datasets.download_path(config["datasets"], name, f"{results}/downloads"))
        if download.is_file():
            return None
        reason = unreachable(d["url"])
        if reason is None:
            return None
        return (f"dataset {name}: not prepared, and its url {d['url']} is not reachable from this machine ({reason}): "
                f"download it where there is internet and put it at {download}, or set datasets.{name}.url: null "
                f"and datasets.{name}.path. {instructions}")
    path = d.get("path")
    if not path:
        return f"dataset {name}: no path and no url; set datasets.{name}.path (config/README.md)"
    root = Path(path)
    if not root.exists():
        return f"dataset {name}: {path} does not exist. {instructions}"
    missing = _official_files(d["source"], root)
    if missing:
        return f"dataset {name}: {path} has {missing}. {instructions}"
    return None


# -- weights, packages, GPU, disk -----------------------------------------------------------------------
def check_weights(config: Mapping[str, Any], files: list, hint: str) -> list[str]:
    from l2l import weights as W

    cache, mirror, problems = Path(config["results_dir"]) / "weights", config.get("weights_mirror"), []
    for wf in files:
        sidecar = cache / wf.sha256_relpath
        if (cache / wf.relpath).is_file() and sidecar.is_file():
            continue
        if mirror:
            url = W._source_url(wf, mirror)
            reason = unreachable(url)
            if reason:
                problems.append(f"weights {wf.relpath} ({wf.backbone}): not in {cache} and weights_mirror {mirror} "
                                f"does not give it ({reason}); put the file there (docs/weights.md)")
            continue
        if wf.library == "timm" and importlib.util.find_spec("timm") is None:
            continue  # reported once as the missing package
        url = W._source_url(wf, None)
        reason = unreachable(url)
        if reason:
            problems.append(f"weights {wf.relpath} ({wf.backbone}, model.weights={wf.source}): not in {cache} and "
                            f"{urllib.parse.urlparse(url).netloc} is not reachable from here ({reason}): this machine "
                            f"has no internet; {hint}, or set weights_mirror (docs/weights.md)")
    return problems


def check_packages(files: list) -> list[str]:
    if any(wf.library == "timm" for wf in files):
        missing = [p for p in ("timm", "safetensors") if importlib.util.find_spec(p) is None]
        if missing:
            return [f"package {' and '.join(missing)} missing: the planned runs use model.weights: timm; {INSTALL_TIMM}"]
    return []


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch CUDA build: no GPU either
        return 0


_PARAMS: dict[str, int] = {}  # parameter count per (dataset, backbone, method, model config)


def checkpoint_bytes(config: Mapping[str, Any], runs: list) -> tuple[int, int]:
    """(model.pt bytes of all runs not finished yet, the largest resume.ckpt) from parameter counts
    (models built on the meta device: no memory, no weights)."""
    import torch

    from l2l.config import resolve
    from l2l.engine import build_model

    import json

    plan = planners(config)[0]
    params = _PARAMS
    total, largest = 0, 0
    for run in runs:
        if (Path(plan.run_dir(**run.fields())) / "metrics.json").is_file():
            continue
        cfg = plan.run_config(run)
        key = json.dumps([run.dataset, run.backbone, run.method, cfg.get("model")], sort_keys=True)
        if key not in params:
            cfg = {**cfg, "model": {**cfg.get("model", {}), "pretrained": False}}  # init_from: not read here
            with torch.device("meta"):
                model = build_model(resolve(cfg, source="preflight"), KNOWN_ATTRIBUTES.get(run.dataset, 40))
            params[key] = sum(p.numel() for p in model.parameters())
        size = 4 * params[key]
        total += size
        slots = 2 if plan.resolved(run)["train"]["optimizer"] == "adamw" else 1
        largest = max(largest, size * (2 + slots))  # model + best state + optimizer state
    return total, largest


def cache_bytes(config: Mapping[str, Any], runs: list) -> int:
    """The uint8 image caches not built yet (N x 3 x H x W per split and input size)."""
    plan, seen, total = planners(config)[0], set(), 0
    for run in runs:
        for path in plan.cache_files(run):
            if path in seen or Path(path).is_file():
                continue
            seen.add(path)
            split, size = Path(path).stem.rsplit("_", 1)
            h, w = map(int, size.split("x"))
            sizes = resources.split_sizes(config["datasets"][run.dataset], plan.dataset_dir(dataset=run.dataset))
            total += sizes.get(split, 0) * 3 * h * w
    return total


def _free_bytes(path: str) -> int:
    p = Path(path).absolute()
    while not p.exists():
        p = p.parent
    return shutil.disk_usage(p).free


# -- the whole check ------------------------------------------------------------------------------------
def check(config: Mapping[str, Any], targets: str | list[str], local: bool = True) -> Preflight:
    """Every check for the runs of ``targets``; ``local`` = train jobs run on this machine (no cluster)."""
    from l2l import weights as W

    plan, tables = planners(config)
    targets = [targets] if isinstance(targets, str) else list(targets)
    target, suite, by_table = " ".join(targets), suite_of_target(config, targets[0]), {}
    for t in targets:
        for name, rs in target_runs(config, t, shared_once=False).items():
            by_table.setdefault(name, [])
            by_table[name] += [r for r in rs if r not in by_table[name]]
    runs = list(dict.fromkeys(r for rs in by_table.values() for r in rs))
    experiment = tables.experiment(suite) if suite else config["experiment"]
    result = Preflight(target, experiment, plan.protocol(suite))
    est = {r: resources.estimate(plan.resolved(r), config["datasets"][r.dataset], config, r.dataset,
                                 plan.dataset_dir(dataset=r.dataset)) for r in runs}
    for name, rs in [*by_table.items(), ("total", runs)]:
        result.tables[name] = {"runs": len(rs), "datasets": sorted({r.dataset for r in rs}),
                               "backbones": sorted({r.backbone for r in rs}),
                               "gpu_hours": sum(est[r].gpu_hours for r in rs),
                               "runtime": (min((est[r].runtime for r in rs), default=0),
                                           max((est[r].runtime for r in rs), default=0)),
                               "max_mem_mb": max((est[r].mem_mb for r in rs), default=0)}
    hint = f"on a machine with internet run `snakemake --cores 1 {target} --until fetch_weights`"
    for name in sorted({r.dataset for r in runs}):
        problem = check_dataset(config, name)
        if problem:
            result.problems.append(problem)
    files = W.needed((r.backbone, plan.resolved(r)["model"]) for r in runs)
    result.problems += check_packages(files)
    result.problems += check_weights(config, files, hint)
    on_gpu = [r for r in runs if str(plan.resolved(r)["train"]["device"]) != "cpu"]
    hours = result.tables["total"]["gpu_hours"]
    if local and on_gpu and gpu_count() == 0:
        line = (f"no GPU visible on this machine, but {len(on_gpu)} runs have train.device auto/cuda "
                f"({hours:.1f} GPU-hours on the reference card)")
        if hours > GPU_HOURS_WITHOUT_GPU:
            result.problems.append(line + "; run on a GPU server, or submit through the cluster profile "
                                          "(--profile workflow/profiles/slurm), or set train.device: cpu on purpose")
        else:
            result.notes.append(line + ": they train on the CPU")
    ckpt, resume = checkpoint_bytes(config, runs) if runs else (0, 0)
    need = ckpt + min(len(runs), CONCURRENT_JOBS) * resume + cache_bytes(config, runs) + \
        sum(_weights_size(wf) for wf in files if not (Path(config["results_dir"]) / "weights" / wf.relpath).is_file())
    free = _free_bytes(config["results_dir"])
    result.notes.append(f"disk: {need / 1e9:.1f} GB needed in {config['results_dir']} (checkpoints, image caches, "
                        f"weights), {free / 1e9:.1f} GB free")
    if need > free:
        result.problems.append(f"disk: {config['results_dir']} has {free / 1e9:.1f} GB free, the planned runs need "
                               f"about {need / 1e9:.1f} GB (model.pt of every run, resume.ckpt of running jobs, image "
                               f"caches, weights); free space or set results_dir to a larger file system")
    return result


WEIGHT_BYTES = {"resnet18": 47e6, "resnet34": 87e6, "resnet50": 103e6, "resnet101": 179e6, "resnet152": 242e6,
                "alexnet": 244e6, "vit_b_16": 347e6}  # the released files' sizes


def _weights_size(wf) -> int:
    return int(WEIGHT_BYTES.get(wf.backbone, 0))


def report(result: Preflight, config: Mapping[str, Any]) -> str:
    """preflight.md: the checks' outcome, the planned runs and GPU-hours per table and in total."""
    gpu = resources._json("gpu.json")
    speed = float((config.get("resources") or {}).get("gpu_speed") or 1.0)
    lines = [f"# Preflight of `{result.target}` (experiment {result.experiment}, protocol {result.protocol})", "",
             "**" + ("OK: no problem found" if result.ok else f"{len(result.problems)} problem(s): nothing was started")
             + "**", ""]
    lines += [f"- {p}" for p in result.problems] + ([""] if result.problems else [])
    lines += [f"Note: {n}" for n in result.notes] + [""]
    lines += [f"## Planned runs and GPU-hours", "",
              f"GPU-hours on the reference card, **{resources.reference_card()}** (results/benchmarks/gpu.json), "
              f"x 1 / resources.gpu_speed = {speed:g}; no safety factor (the job time limits have it: runtime column).",
              "", "| table | datasets | backbones | runs | GPU-hours | runtime per job, min (shortest-longest) | mem_mb per job (max) |",
              "|---|---|---|---|---|---|---|"]
    for name, t in result.tables.items():
        cells = [f"{t['runs']}", f"{t['gpu_hours']:.2f}"]
        if name == "total":
            name, cells = "**total**", [f"**{c}**" for c in cells]
        lines.append(f"| {name} | {', '.join(t['datasets'])} | {', '.join(t['backbones'])} | {cells[0]} | {cells[1]} | "
                     f"{t['runtime'][0]}-{t['runtime'][1]} | {t['max_mem_mb']} |")
    lines += ["", "A table's runs include those it shares with another table (Table 8 is Table 5's Label2Label / "
              "ResNet-50 row); the total counts each run once. Figures used (ResNet-50, 250x250, "
              "fast path; other backbones by relative MACs, other sizes by pixels, other batches by a power law "
              "through the measured two; docs/resources.md):", "",
              "| method | batch | train img/s | eval img/s |", "|---|---|---|---|"]
    for r in gpu["rows"]:
        if not r.get("compiled"):
            lines.append(f"| {r['method']} | {r['batch_size']} | {r['fast_train_img_s']:.1f} | {r['fast_eval_img_s']:.1f} |")
    lines += ["", f"Per-job overhead: {gpu['overhead']['total_s']:.1f} s (start-up, imports, MLflow set-up)."]
    return "\n".join(lines) + "\n"


def run(config: Mapping[str, Any], target: str | list[str], out: str | None, local: bool = True,
        stream=None, kept_at: str | None = None) -> Preflight:
    """Check, write ``out`` (atomically), print every problem; the caller exits non-zero if any.

    ``kept_at``: where the report ends up when there are problems (the workflow moves it out of the
    failed rule's output, which Snakemake would delete), so the printed path is one that exists."""
    import sys

    stream = stream or sys.stderr
    result = check(config, target, local)
    target = result.target
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(out).with_name(f".{Path(out).name}.part")
        tmp.write_text(report(result, config))
        os.replace(tmp, out)
    for note in result.notes:
        print(f"preflight {target}: note: {note}", file=stream)
    for problem in result.problems:
        print(f"preflight {target}: PROBLEM: {problem}", file=stream)
    total = result.tables["total"]
    print(f"preflight {target}: {total['runs']} runs, {total['gpu_hours']:.1f} GPU-hours on "
          f"{resources.reference_card()}; " + ("OK" if result.ok else f"{len(result.problems)} problem(s), nothing started")
          + (f"; report: {kept_at if kept_at and not result.ok else out}" if out else ""), file=stream)
    return result


def cmd_preflight(args) -> None:
    from l2l.plan.experiment import experiment_from_args

    config = experiment_from_args(args)
    suite = suite_of_target(config, args.target)
    out = args.out
    if out is None:
        exp = planners(config)[1].experiment(suite) if suite else config["experiment"]
        out = f"{config['results_dir']}/{exp}/preflight.md"
    result = run(config, args.target, out, local=not args.cluster)
    if not result.ok:
        raise UserError(f"{len(result.problems)} problem(s) found before any job (listed above; report {out})")


def add_parser(sub) -> None:
    import argparse

    from l2l.plan.experiment import add_experiment_options

    p = sub.add_parser("preflight", help="check a target before any train job: data, packages, weights, GPU, disk; GPU-hours",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Lists every problem at once (one line each, with its fix) and exits non-zero if "
                                   "there is one; writes results/<suite>/preflight.md with the planned runs and "
                                   "GPU-hours per table (docs/resources.md).",
                       epilog="examples:\n  l2l preflight paper\n  l2l preflight table9 --cluster\n"
                              "  l2l preflight paper --config resources.gpu_speed=0.5")
    p.add_argument("target", help="paper, ablations, a table (table5), or all")
    p.add_argument("--out", help="report file (default <results_dir>/<suite experiment>/preflight.md)")
    p.add_argument("--cluster", action="store_true", help="train jobs go to a cluster: do not ask for a GPU here")
    add_experiment_options(p)
    p.set_defaults(func=cmd_preflight)
