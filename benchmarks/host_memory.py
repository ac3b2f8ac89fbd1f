"""Peak host memory of one real train job (`l2l train`), the figure behind the train rule's ``mem_mb``.

Runs the real CLI in a subprocess on a generated dataset and samples, every 0.1 s, the proportional set
size (PSS: shared pages split between the processes that map them, so workers forked from the main
process are not counted twice) summed over the job's process tree; reports the peak. Configurations:
the image cache (the workflow's default, ``data.cache: true``, no DataLoader workers: the uint8 cache is
memory-mapped, page cache the kernel can drop) and the per-sample file path with N DataLoader workers.

    python -m benchmarks.host_memory                     # CPU, ResNet-50 at 64x64, writes results/benchmarks/host_memory.json/.md
    python -m benchmarks.host_memory --device cuda       # on a GPU machine: the CUDA process (writes host_memory_cuda.*)
    python -m benchmarks.host_memory --backbone small_cnn --image-size 32 --ffn-dim 256 --workers   # the demo's model

``l2l.plan.resources`` reads the JSON (host_memory_<backbone>.json for a backbone measured on its own, else
the ResNet-50 one): mem_mb = main process peak + workers x per-worker increment, times the safety factor
(docs/resources.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def tree_pss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps, peak = psutil.Process(proc.pid), 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_pss_mb(ps))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"train failed ({proc.returncode}):\n{out[-3000:]}")
    return {"peak_pss_mb": round(peak, 1), "wall_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--method", default="label2label")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--n-train", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="*", default=[0, 2, 4], help="file-path runs with these workers")
    ap.add_argument("--ffn-dim", type=int, default=2048, help="model.ffn_dim (the paper's 2048; the demo's 256)")
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks"))
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as tmp:
        data = f"{tmp}/data"
        subprocess.run([sys.executable, "-m", "l2l", "generate", "--out", data, "--n-train", str(args.n_train),
                        "--n-val", "32", "--n-test", "64", "--image-size", str(args.image_size), "--seed", "0"],
                       check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        base = [sys.executable, "-m", "l2l", "train", "--set", f"data.path={data}", "--set", f"backbone={args.backbone}",
                "--set", f"method={args.method}", "--set", "train.epochs=1", "--set", f"train.batch_size={args.batch}",
                "--set", f"data.image_size=[{args.image_size},{args.image_size}]", "--set", f"train.device={args.device}",
                "--set", f"model.ffn_dim={args.ffn_dim}", "--set", f"tracking.uri=sqlite:///{tmp}/mlflow.db"]
        rows = []
        configs = [("cache", 0)] + [("files", w) for w in args.workers]
        for i, (path, workers) in enumerate(configs):
            extra = ["--set", f"data.cache={'true' if path == 'cache' else 'false'}", "--set", f"train.num_workers={workers}"]
            if path == "cache":  # the cache is built by its own rule in the workflow: build it first, untimed
                subprocess.run([sys.executable, "-m", "l2l", "cache", "--data", data, "--image-size", str(args.image_size),
                                str(args.image_size)], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            r = measure(base + extra + ["--out", f"{tmp}/run{i}"], env)
            rows.append({"data_path": path, "num_workers": workers, **r})
            print(rows[-1], flush=True)
    files = {r["num_workers"]: r["peak_pss_mb"] for r in rows if r["data_path"] == "files"}
    ws = sorted(files)
    per_worker = max((files[b] - files[a]) / (b - a) for a, b in zip(ws, ws[1:])) if len(ws) > 1 else None
    result = {"device": args.device, "backbone": args.backbone, "method": args.method, "image_size": args.image_size,
              "ffn_dim": args.ffn_dim,
              "batch_size": args.batch, "n_train": args.n_train, "rows": rows,
              "main_process_mb": max(r["peak_pss_mb"] for r in rows if r["num_workers"] == 0),
              "per_worker_mb": round(per_worker, 1) if per_worker is not None else None,
              "machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "cpus": os.cpu_count()}}
    import torch
    result["machine"]["torch"] = torch.__version__
    tag = "host_memory" + ("" if args.device == "cpu" else f"_{args.device.split(':')[0]}") + \
        ("" if args.backbone == "resnet50" else f"_{args.backbone}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Peak host memory of one train job ({args.device}, {args.backbone} {args.method}, "
             f"{args.image_size}x{args.image_size}, batch {args.batch}, {args.n_train} train images, 1 epoch)", "",
             "PSS summed over the job's processes, sampled every 0.1 s (`python -m benchmarks.host_memory`).", "",
             "| data path | DataLoader workers | peak PSS MB | wall s |", "|---|---|---|---|"]
    lines += [f"| {r['data_path']} | {r['num_workers']} | {r['peak_pss_mb']} | {r['wall_s']} |" for r in rows]
    lines += ["", f"Main process: {result['main_process_mb']} MB; each DataLoader worker adds up to "
                  f"{result['per_worker_mb']} MB."]
    (out / f"{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
