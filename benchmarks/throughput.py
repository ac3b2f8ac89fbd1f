"""Throughput of the fast training path against a plain reference loop, measured A/B in one process.

    python -m benchmarks.throughput --device cpu --configs small_cnn:32:64 resnet50:64:16 \
        --out results/benchmarks/cpu.json

For every method × (backbone, input size, batch size): training and evaluation images/s of

* **plain**: the loop as the official code writes it: fp32, eager, NCHW, a ``DataLoader`` whose
  dataset decodes each JPEG with PIL and applies torchvision transforms per sample, a for-loop
  optimizer step, ``loss.item()`` per step; evaluation under ``no_grad`` at the training batch size;
* **fast**: l2l's path: batches from the uint8 cache (``l2l.data.batched``), augmentation on the
  device, channels_last, bf16 autocast (CUDA), fused optimizer (CUDA; the plain loop on CPU), the engine's
  ``train_step`` (no host sync); evaluation under ``inference_mode`` at ``--eval-batch``.

Both start from the same weights. Repeats alternate plain and fast (A/B) so that load from other
processes on a shared machine hits both alike; warm-up steps are excluded; the median of the
repeats is reported. Also: the per-job overhead (process start + imports + MLflow run set-up),
the epoch time of the embedded dataset with and without the image cache, and a projection of
the paper grid (benchmarks/paper_grid.py) from the measured rates.

``--packing 1 2 4`` measures instead the aggregate training img/s of k fast-path runs sharing the
device, each in its own process (benchmarks/packing.py; what ``resources.runs_per_gpu`` buys):

    python -m benchmarks.throughput --packing 1 2 4 --device cpu --configs small_cnn:32:16 \
        --methods label2label --out results/benchmarks/packing_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from benchmarks.fast_path import Fast, cycle, sync
from benchmarks.paper_grid import PAPER_GRID, RELATIVE_COST, SEEDS, total_runs
from l2l.data.cache import build_cache
from l2l.data.embedded import generate
from l2l.data.format import PreparedDataset, load_prepared, write_prepared
from l2l.data.loader import IMAGENET_MEAN, IMAGENET_STD
from l2l.engine import masked_bce
from l2l.io import write_json, write_text
from l2l.models import create_model

METHODS = ("fc_head", "aqn", "label2label")


# ----------------------------------------------------------------------------- data
def make_jpeg_dataset(root: Path, n: int, size: tuple[int, int], seed: int = 0) -> PreparedDataset:
    """Embedded images (drawn at 32 px) stored as JPEG at ``size``: real datasets are JPEG files."""
    if (root / "meta.yaml").is_file():
        return load_prepared(root)
    src = generate(root / "_src", n_train=n, n_val=1, n_test=1, seed=seed)
    data = load_prepared(src)
    names = []
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in data.indices("train"):
        name = f"images/{i:06d}.jpg"
        Image.open(src / data.images[i]).convert("RGB").resize((size[1], size[0]), Image.BILINEAR).save(
            root / name, quality=95)
        names.append(name)
    idx = data.indices("train")
    return load_prepared(write_prepared(root, "bench", data.attributes, names, ["train"] * len(names),
                                        data.labels[idx], "benchmarks.throughput", data.groups))


class PlainDataset(Dataset):
    """Official-code style: PIL decode + torchvision transforms per sample."""

    def __init__(self, data: PreparedDataset, size: tuple[int, int], train: bool) -> None:
        self.data, self.index = data, data.indices("train")
        steps = [transforms.Resize(size)] + ([transforms.RandomHorizontalFlip()] if train else [])
        self.tf = transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        self.labels = torch.from_numpy(data.labels[self.index].astype(np.float32))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        img = Image.open(self.data.root / self.data.images[self.index[i]]).convert("RGB")
        return self.tf(img), self.labels[i]


# ----------------------------------------------------------------------------- the two paths
class Plain:
    def __init__(self, model, data, size, batch, device, workers):
        self.model, self.device = model, device
        self.opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-3,
                                   foreach=False)
        pin = device.type == "cuda"
        tr, ev = PlainDataset(data, size, True), PlainDataset(data, size, False)
        self.train_iter = cycle(lambda e: DataLoader(tr, batch, shuffle=True, num_workers=workers, pin_memory=pin,
                                                     drop_last=True, generator=torch.Generator().manual_seed(e)))
        self.eval_iter = cycle(lambda e: DataLoader(ev, batch, shuffle=False, num_workers=workers, pin_memory=pin))
        self.eval_batch = batch

    def train(self, steps: int) -> int:
        self.model.train()
        seen, running = 0, 0.0
        for _ in range(steps):
            images, y = next(self.train_iter)
            images, y = images.to(self.device), y.to(self.device)
            out = self.model(images)
            loss = sum(w * masked_bce(out[k], y) for k, w in self.model.loss_weights.items())
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            running += loss.item()  # the official loop logs the loss every step
            seen += len(y)
        return seen

    def eval(self, images_wanted: int) -> int:
        self.model.eval()
        seen = 0
        with torch.no_grad():
            while seen < images_wanted:
                images, y = next(self.eval_iter)
                out = self.model(images.to(self.device))
                _ = [torch.sigmoid(v).cpu() for v in out.values()]
                seen += len(y)
        return seen


def timed(fn, arg, device) -> tuple[int, float]:
    sync(device)
    t = time.perf_counter()
    n = fn(arg)
    sync(device)
    return n, time.perf_counter() - t


def bench_config(method, backbone, size, batch, eval_batch, data, device, args, steps: int) -> dict[str, Any]:
    torch.manual_seed(0)
    base = create_model(method, backbone, len(data.attributes), ffn_dim=args.ffn_dim).to(device)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    plain_model = base
    fast_model = create_model(method, backbone, len(data.attributes), ffn_dim=args.ffn_dim).to(device)
    fast_model.load_state_dict(state)  # same weights
    plain = Plain(plain_model, data, size, batch, device, args.plain_workers)
    fast = Fast(fast_model, data, size, batch, eval_batch, device, amp=not args.no_amp, compile_model=args.compile)
    eval_images = eval_batch * args.eval_batches
    warmup_s = {}
    for name, p in (("plain", plain), ("fast", fast)):  # warm-up (kernels, allocator, workers, compile): not in the rates
        t = time.perf_counter()
        p.train(args.warmup)
        p.eval(eval_batch)
        sync(device)
        warmup_s[f"{name}_warmup_s"] = time.perf_counter() - t
        print(f"{method:12s} {backbone:10s} warm-up {name}: {warmup_s[f'{name}_warmup_s']:.1f} s", flush=True)
    res: dict[str, list[float]] = {"plain_train": [], "fast_train": [], "plain_eval": [], "fast_eval": []}
    for _ in range(args.repeats):
        for name, p in (("plain", plain), ("fast", fast)):  # A/B alternation
            n, t = timed(p.train, steps, device)
            res[f"{name}_train"].append(n / t)
            n, t = timed(p.eval, eval_images, device)
            res[f"{name}_eval"].append(n / t)
    for name, p in (("plain", plain), ("fast", fast)):  # the data path alone: can it feed the model?
        res[f"{name}_data"] = []
        for _ in range(args.repeats):
            sync(device)
            t, n = time.perf_counter(), 0
            for _ in range(steps):
                n += len(next(p.train_iter)[1])
            sync(device)
            res[f"{name}_data"].append(n / (time.perf_counter() - t))
    med = {k: statistics.median(v) for k, v in res.items()}
    row = {"method": method, "backbone": backbone, "image_size": list(size), "batch_size": batch, "steps": steps,
           "eval_batch_size": eval_batch, **{f"{k}_img_s": v for k, v in med.items()},
           **warmup_s, "compiled": args.compile,
           "train_ratio": med["fast_train"] / med["plain_train"], "eval_ratio": med["fast_eval"] / med["plain_eval"],
           "samples": {k: [round(x, 2) for x in v] for k, v in res.items()}}
    del plain, fast
    return row


# ----------------------------------------------------------------------------- overhead, cache, projection
def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return time.perf_counter() - t


TRACKER_SNIPPET = """
import sys, time
t = time.perf_counter()
import l2l.engine
from l2l.tracking import Tracker
i = time.perf_counter()
tr = Tracker.start(sys.argv[1], "bench", "overhead", {}, {"a": "1"})
tr.finish()
print(i - t, time.perf_counter() - i)
"""


def job_overhead(repeats: int = 3) -> dict[str, float]:
    """Wall time of a fresh process: bare interpreter, + importing the engine, + an MLflow run start."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    env.pop("MLFLOW_TRACKING_URI", None)
    bare, full, imports, tracker = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            bare.append(_wall([sys.executable, "-c", "pass"], env))
            uri = f"sqlite:///{tmp}/m{r}.db"  # a fresh store each time: the first job of a pipeline pays schema set-up
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", TRACKER_SNIPPET, uri], check=True, env=env,
                                 capture_output=True, text=True).stdout.split()
            full.append(time.perf_counter() - t)
            imports.append(float(out[0]))
            tracker.append(float(out[1]))
    return {"python_start_s": statistics.median(bare), "import_engine_s": statistics.median(imports),
            "mlflow_run_setup_s": statistics.median(tracker), "total_s": statistics.median(full)}


def embedded_epoch(device: torch.device, repeats: int = 3, method: str = "fc_head") -> dict[str, Any]:
    """One training epoch of the embedded dataset (3,000 images, 32 px, small_cnn, batch 64) through the
    engine's ``train_one_epoch``, fed by the per-sample DataLoader (data.cache false, images preloaded
    as the engine does for small datasets) and by the cache; plus the data pass alone. FC Head: the
    cheapest model, where the data path weighs most."""
    from l2l.config import resolve
    from l2l.data.batched import Batches, FileImages
    from l2l.data.loader import DecodedImages
    from l2l.engine import build_batches, build_model, build_optimizer, train_one_epoch

    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "embedded", seed=0)
        data = load_prepared(root)
        out: dict[str, Any] = {"n_train": int(len(data.indices("train"))), "image_size": [32, 32], "method": method}
        t = time.perf_counter()
        build_cache(data, "train", (32, 32))
        out["cache_build_s"] = time.perf_counter() - t
        res: dict[str, list[float]] = {k: [] for k in ("plain_epoch_s", "cached_epoch_s", "plain_data_s", "cached_data_s",
                                                       "decode_data_s", "plain_epoch_cpu_s", "cached_epoch_cpu_s")}
        cfgs = {c: resolve({"method": method, "model": {"ffn_dim": 256}, "data": {"path": str(root), "cache": c},
                            "train": {"channels_last": c, "fused_optimizer": c}}) for c in (False, True)}
        t = time.perf_counter()
        plain_src = build_batches(cfgs[False], data, device, channels_last=False)[0]  # files, preloaded
        out["preload_decode_s"] = time.perf_counter() - t  # what the per-sample path pays at every run start
        labels = data.labels[data.indices("train")]
        decode_src = Batches(FileImages(DecodedImages(data, "train", (32, 32)), device), labels, 64, device, train=True)
        cached_src = build_batches(cfgs[True], data, device, channels_last=device.type == "cuda")[0]
        for rep in range(repeats + 1):
            for c in (False, True):
                cfg = cfgs[c]
                torch.manual_seed(0)
                model = build_model(cfg, len(data.attributes)).to(device)
                if c and device.type == "cuda":
                    model = model.to(memory_format=torch.channels_last)
                opt = build_optimizer(cfg, model)
                batches = (lambda: cached_src.set_epoch_seed(rep)) if c else (lambda: plain_src.set_epoch_seed(rep))
                t = time.perf_counter()
                for _ in batches():
                    pass
                data_s = time.perf_counter() - t
                if not rep:  # rep 0 is a warm-up pass over the data only
                    continue
                t, cpu = time.perf_counter(), time.process_time()
                train_one_epoch(model, batches(), opt, device)
                res["cached_epoch_s" if c else "plain_epoch_s"].append(time.perf_counter() - t)
                # CPU seconds of this process: insensitive to other jobs on a shared machine (1 thread, no workers)
                res["cached_epoch_cpu_s" if c else "plain_epoch_cpu_s"].append(time.process_time() - cpu)
                res["cached_data_s" if c else "plain_data_s"].append(data_s)
            if rep:  # the per-sample path without preload (datasets over 64x64 px or 20,000 images): decode every epoch
                t = time.perf_counter()
                for _ in decode_src.set_epoch_seed(rep):
                    pass
                res["decode_data_s"].append(time.perf_counter() - t)
        out.update({k: statistics.median(v) for k, v in res.items()})
        out["samples"] = res
        out["epoch_speedup"] = out["plain_epoch_s"] / out["cached_epoch_s"]
        out["epoch_cpu_speedup"] = out["plain_epoch_cpu_s"] / out["cached_epoch_cpu_s"]
        out["data_speedup"] = out["plain_data_s"] / out["cached_data_s"]
    return out


def _rate(rows: list[dict], method: str, backbone: str, size: tuple[int, int], batch: int,
          key: str) -> tuple[float, str] | None:
    """img/s for (method, backbone, size, batch), scaled from the closest measurement; says how it was scaled.

    The largest measured input wins (scaling by pixels is least wrong from there), then the batch size
    nearest the recipe's: on a GPU batch 16 runs at about half the img/s of batch 64."""
    px = size[0] * size[1]
    cands = [r for r in rows if r["method"] == method and r["backbone"] == backbone] or \
        [r for r in rows if r["method"] == method and r["backbone"] == "resnet50" and backbone in RELATIVE_COST]
    if not cands:
        return None
    r = max(cands, key=lambda r: (r["image_size"][0] * r["image_size"][1], -abs(r["batch_size"] - batch)))
    mpx = r["image_size"][0] * r["image_size"][1]
    rate, how = r[key], []
    if r["backbone"] != backbone:
        rate /= RELATIVE_COST[backbone]
        how.append(f"{backbone} = resnet50 / {RELATIVE_COST[backbone]:.2f} (MACs)")
    if mpx != px:
        rate *= mpx / px
        how.append(f"{r['image_size'][0]}x{r['image_size'][1]} -> {size[0]}x{size[1]} by pixels")
    if r["batch_size"] != batch:
        how.append(f"batch {r['batch_size']} for {batch}")
    return rate, "; ".join(how) or "measured"


def project(rows: list[dict], overhead_s: float) -> dict[str, Any]:
    """Hours for the paper grid on the measured device, per path, from measured (or scaled) img/s."""
    blocks, totals = [], {"plain": 0.0, "fast": 0.0}
    for b in PAPER_GRID:
        entry: dict[str, Any] = {"dataset": b.dataset, "table": b.table, "method": b.method, "backbone": b.backbone,
                                 "runs": b.configs * SEEDS}
        for path in ("plain", "fast"):
            tr = _rate(rows, b.method, b.backbone, b.image_size, b.batch_size, f"{path}_train_img_s")
            ev = _rate(rows, b.method, b.backbone, b.image_size, b.batch_size, f"{path}_eval_img_s")
            if tr is None or ev is None:
                entry[f"{path}_hours"] = None
                continue
            per_run = b.epochs * (b.n_train / tr[0] + b.n_test / ev[0]) + overhead_s
            entry[f"{path}_hours"] = per_run * entry["runs"] / 3600
            entry["scaling"] = tr[1]
            totals[path] += entry[f"{path}_hours"]
        blocks.append(entry)
    return {"runs": total_runs(), "seeds": SEEDS, "blocks": blocks,
            "total_hours": totals, "complete": all(e.get("fast_hours") is not None for e in blocks)}


def machine(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    d = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
         "python": platform.python_version(), "platform": platform.platform(), "device": str(device)}
    if device.type == "cuda":
        d["gpu"] = torch.cuda.get_device_name(device)
    return d


# ----------------------------------------------------------------------------- report
def table(result: dict[str, Any]) -> str:
    lines = [f"# Throughput: fast path vs plain loop ({result['machine'].get('gpu', result['machine']['cpu'])}, "
             f"{result['machine']['device']}, torch {result['machine']['torch']})", "",
             "| method | backbone | input | batch | train plain img/s | train fast img/s | train fast/plain "
             "| eval plain img/s | eval fast img/s | eval fast/plain | data only plain / fast img/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['method']} | {r['backbone']} | {r['image_size'][0]}x{r['image_size'][1]} | {r['batch_size']} "
                     f"| {r['plain_train_img_s']:.1f} | {r['fast_train_img_s']:.1f} | {r['train_ratio']:.2f}x "
                     f"| {r['plain_eval_img_s']:.1f} | {r['fast_eval_img_s']:.1f} | {r['eval_ratio']:.2f}x "
                     f"| {r['plain_data_img_s']:.0f} / {r['fast_data_img_s']:.0f} |")
    if "overhead" in result:
        o = result["overhead"]
        lines += ["", f"Per-job overhead: {o['total_s']:.2f} s (python start {o['python_start_s']:.2f} s, "
                      f"imports {o['import_engine_s']:.2f} s, MLflow run set-up {o['mlflow_run_setup_s']:.2f} s)"]
    if "overhead_error" in result:
        lines += ["", f"Per-job overhead not measured ({result['overhead_error']}); the projection counts 0 s per job."]
    if "embedded_epoch" in result:
        e = result["embedded_epoch"]
        lines += ["", f"Embedded dataset epoch ({e['n_train']} images, 32 px, small_cnn {e['method']}): "
                      f"per-sample path {e['plain_epoch_s']:.2f} s, cached {e['cached_epoch_s']:.2f} s "
                      f"({e['epoch_speedup']:.2f}x wall; process CPU time {e['plain_epoch_cpu_s']:.2f} s vs "
                      f"{e['cached_epoch_cpu_s']:.2f} s, {e['epoch_cpu_speedup']:.2f}x); data pass alone {e['plain_data_s']:.3f} s vs "
                      f"{e['cached_data_s']:.3f} s ({e['data_speedup']:.1f}x; {e['decode_data_s']:.2f} s when decoding "
                      f"per epoch, i.e. without preload); one-off: cache build "
                      f"{e['cache_build_s']:.2f} s, per-run preload decode {e['preload_decode_s']:.2f} s"]
    p = result.get("projection")
    if p:
        lines += ["", f"Projected paper grid ({p['runs']} runs = configs x {p['seeds']} seeds) on this device:",
                  "", "| dataset | table | method | backbone | runs | plain h | fast h | scaling |", "|---|---|---|---|---|---|---|---|"]
        for b in p["blocks"]:
            ph, fh = b.get("plain_hours"), b.get("fast_hours")
            lines.append(f"| {b['dataset']} | {b['table']} | {b['method']} | {b['backbone']} | {b['runs']} | "
                         f"{'-' if ph is None else f'{ph:.2f}'} | {'-' if fh is None else f'{fh:.2f}'} | {b.get('scaling', 'not measured')} |")
        t = p["total_hours"]
        lines += ["", f"Total: plain {t['plain']:.1f} h, fast {t['fast']:.1f} h (one device, runs in sequence"
                      f"{'' if p['complete'] else '; blocks without a measured method are left out'})."]
    return "\n".join(lines) + "\n"


def parse_config(text: str) -> tuple[str, tuple[int, int], int, int, int | None]:
    """backbone:size[:batch[:eval_batch[:steps]]], size = S or HxW (eval batch default 4 x batch, steps --steps)."""
    parts = text.split(":")
    size = parts[1].split("x")
    hw = (int(size[0]), int(size[-1]))
    batch = int(parts[2]) if len(parts) > 2 else 64
    return (parts[0], hw, batch, int(parts[3]) if len(parts) > 3 else 4 * batch,
            int(parts[4]) if len(parts) > 4 else None)


def write_result(result: dict[str, Any], out: Path) -> None:
    """Projection from the measured rows, then the JSON and its markdown table beside it."""
    result["projection"] = project(result["rows"], result.get("overhead", {}).get("total_s", 0.0))
    text = table(result)
    print(text)
    write_json(out, result)
    write_text(out.with_suffix(".md"), text)


def reproject(path: Path) -> dict[str, Any]:
    """A saved result's projection and table recomputed from its measured rows: device time is scarce."""
    result = json.loads(path.read_text())
    write_result(result, path)
    return result


def packing_main(args: argparse.Namespace) -> dict[str, Any]:
    """--packing: for every config x method, k = args.packing concurrent runs; JSON + markdown table."""
    from benchmarks import packing

    t_start = time.perf_counter()
    result: dict[str, Any] = {"machine": machine(torch.device(args.device)), "args": vars(args), "packing": []}
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(args.data_dir or tmp)
        for text in args.configs:
            backbone, size, batch, _, steps = parse_config(text)
            data = make_jpeg_dataset(data_root / f"jpeg_{size[0]}x{size[1]}_{args.n_images}", args.n_images, size)
            build_cache(data, "train", size)
            for method in args.methods:
                spec = {"device": args.device, "data": str(data.root), "method": method, "backbone": backbone,
                        "image_size": list(size), "batch": batch, "ffn_dim": args.ffn_dim, "amp": not args.no_amp,
                        "threads": args.threads, "warmup": args.warmup, "steps_per_check": steps or 1,
                        "seconds": args.packing_seconds}
                result["packing"].append(packing.measure(spec, args.packing, args.repeats))
                write_json(out, {**result, "partial": True})
    result["wall_s"] = time.perf_counter() - t_start
    m = result["machine"]
    text = "\n\n".join([f"# Packing: k concurrent runs on one device ({m.get('gpu', m['cpu'])}, {m['device']}, "
                         f"torch {m['torch']}, {m['cores']} cores)"] + [packing.table(p) for p in result["packing"]]) + "\n"
    print(text)
    write_json(out, result)
    write_text(out.with_suffix(".md"), text)
    print(f"wrote {out} and {out.with_suffix('.md')} in {result['wall_s']:.0f} s")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--configs", nargs="+", default=["small_cnn:32:64:64:6", "resnet50:64:8:32:1"],
                   help="backbone:size[:batch[:eval_batch]], e.g. resnet50:250:16 or resnet50:256x192:64")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--steps", type=int, default=8, help="training steps per timed repeat")
    p.add_argument("--warmup", type=int, default=1, help="training steps before timing")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--eval-batches", type=int, default=1, help="fast-path eval batches per timed repeat")
    p.add_argument("--n-images", type=int, default=1024, help="training images of the generated JPEG dataset")
    p.add_argument("--plain-workers", type=int, default=0, help="DataLoader workers of the plain loop")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1: on a shared CPU more threads spin against other jobs)")
    p.add_argument("--ffn-dim", type=int, default=2048)
    p.add_argument("--no-amp", action="store_true", help="fast path without bf16 autocast (CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the fast model (warm-up then includes compile)")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--skip-epoch", action="store_true", help="skip the embedded-dataset epoch with/without cache")
    p.add_argument("--data-dir", help="where to keep generated JPEG datasets (default: a temp dir)")
    p.add_argument("--packing", type=int, nargs="+", metavar="K",
                   help="measure only packing: aggregate train img/s of K concurrent runs (processes) on the device")
    p.add_argument("--packing-seconds", type=float, default=20.0, help="timed window of each packing round")
    p.add_argument("--out", default="results/benchmarks/throughput.json")
    p.add_argument("--reproject", metavar="JSON",
                   help="measure nothing: recompute the projection and table of a saved result in place "
                        "(after a change to the grid or the cost model)")
    args = p.parse_args(argv)
    if args.reproject:
        return reproject(Path(args.reproject))

    if args.packing:
        return packing_main(args)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t_start = time.perf_counter()
    result: dict[str, Any] = {"machine": machine(device), "args": vars(args), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(args.data_dir or tmp)
        for text in args.configs:
            backbone, size, batch, eval_batch, steps = parse_config(text)
            data = make_jpeg_dataset(data_root / f"jpeg_{size[0]}x{size[1]}_{args.n_images}", args.n_images, size)
            t = time.perf_counter()
            build_cache(data, "train", size)
            result.setdefault("cache_build_s", {})[f"{size[0]}x{size[1]}"] = time.perf_counter() - t
            for method in args.methods:
                row = bench_config(method, backbone, size, batch, eval_batch, data, device, args, steps or args.steps)
                result["rows"].append(row)
                write_json(Path(args.out), {**result, "partial": True})  # a timed-out run keeps its rows
                print(f"{method:12s} {backbone:10s} {size[0]}x{size[1]} b{batch}: train {row['plain_train_img_s']:.1f} -> "
                      f"{row['fast_train_img_s']:.1f} img/s ({row['train_ratio']:.2f}x), eval {row['plain_eval_img_s']:.1f}"
                      f" -> {row['fast_eval_img_s']:.1f} ({row['eval_ratio']:.2f}x)", flush=True)
    if not args.skip_epoch:
        result["embedded_epoch"] = embedded_epoch(device)
        write_json(Path(args.out), {**result, "partial": True})
    if not args.skip_overhead:
        try:
            result["overhead"] = job_overhead()
        except (subprocess.CalledProcessError, OSError, ValueError, IndexError) as exc:
            # e.g. mlflow missing on a bare GPU image: the throughput rows stand, the projection says 0 s overhead
            lines = str(getattr(exc, "stderr", "") or "").strip().splitlines()
            result["overhead_error"] = lines[-1] if lines else f"{type(exc).__name__}: {exc}"
            print(f"per-job overhead not measured: {result['overhead_error']}", file=sys.stderr)
    result["wall_s"] = time.perf_counter() - t_start
    out = Path(args.out)
    write_result(result, out)
    print(f"wrote {out} and {out.with_suffix('.md')} in {result['wall_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
