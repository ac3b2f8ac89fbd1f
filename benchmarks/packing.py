"""Packing: aggregate training images/s of k runs sharing one device, each in its own process.

What ``resources.runs_per_gpu: k`` buys: at the paper's LFWA batch of 16 one run leaves most of a GPU
idle (docs/performance.md), so k runs side by side may train more images per second in total than one.
Called through ``python -m benchmarks.throughput --packing 1 2 4 ...``; each worker is
``python -m benchmarks.packing WORKER_JSON``.

Protocol: for each k, k worker processes build the model and the fast path (``fast_path.Fast``: the
engine's ``train_step`` on cached batches), warm up, print ``ready`` and wait; when all k are ready the
parent writes ``go`` to each, and each trains for the same wall-clock window, synchronises the device
and reports images and seconds. Aggregate img/s = sum over workers of images / seconds (the windows
start together and have the same length, so they overlap). The median over repeats is reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One run's training loop for ``spec['seconds']`` after the go signal (on stdin)."""
    import torch

    from benchmarks.fast_path import Fast, sync
    from l2l.data.format import load_prepared
    from l2l.models import create_model

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    data = load_prepared(spec["data"])
    size, batch = tuple(spec["image_size"]), spec["batch"]
    torch.manual_seed(spec["seed"])
    model = create_model(spec["method"], spec["backbone"], len(data.attributes), ffn_dim=spec["ffn_dim"]).to(device)
    fast = Fast(model, data, size, batch, batch, device, amp=spec["amp"])
    fast.train(spec["warmup"])
    sync(device)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("packing worker: no go signal")
    t0, images = time.perf_counter(), 0
    while time.perf_counter() - t0 < spec["seconds"]:
        images += fast.train(spec["steps_per_check"])
    sync(device)
    return {"images": images, "seconds": time.perf_counter() - t0}


def _spawn(spec: dict[str, Any]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "benchmarks.packing", json.dumps(spec)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def one_round(spec: dict[str, Any], k: int) -> dict[str, Any]:
    """k workers started together; their img/s each and summed."""
    procs = [_spawn({**spec, "seed": i}) for i in range(k)]
    try:
        for p in procs:
            line = p.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"packing worker failed before its warm-up ended (said {line!r}); see stderr")
        for p in procs:  # all warmed up: start the timed windows together
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [json.loads(p.stdout.readline()) for p in procs]
        for p in procs:
            p.wait(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    rates = [o["images"] / o["seconds"] for o in outs]
    return {"per_run_img_s": rates, "aggregate_img_s": sum(rates)}


def measure(spec: dict[str, Any], ks: list[int], repeats: int, log=print) -> dict[str, Any]:
    """Rounds k = ks[0], ks[1], ... repeated ``repeats`` times in that order (interleaved, as the A/B rows)."""
    samples: dict[int, list[dict[str, Any]]] = {k: [] for k in ks}
    for r in range(repeats):
        for k in ks:
            res = one_round(spec, k)
            samples[k].append(res)
            log(f"packing {spec['method']} {spec['backbone']} {spec['image_size'][0]}x{spec['image_size'][1]} "
                f"b{spec['batch']} k={k} repeat {r + 1}: {res['aggregate_img_s']:.1f} img/s "
                f"({', '.join(f'{x:.1f}' for x in res['per_run_img_s'])})")
    rows = []
    for k in ks:
        agg = statistics.median(s["aggregate_img_s"] for s in samples[k])
        per = statistics.median(statistics.mean(s["per_run_img_s"]) for s in samples[k])
        rows.append({"k": k, "aggregate_img_s": agg, "per_run_img_s": per,
                     "samples": [[round(x, 2) for x in s["per_run_img_s"]] for s in samples[k]]})
    base = rows[0]["aggregate_img_s"]
    for row in rows:
        row["gain_vs_first"] = row["aggregate_img_s"] / base
    return {"spec": {k: v for k, v in spec.items() if k != "seed"}, "repeats": repeats, "rows": rows}


def table(result: dict[str, Any]) -> str:
    """The markdown section of one packing measurement."""
    s = result["spec"]
    lines = [f"Packing: {s['method']} / {s['backbone']} {s['image_size'][0]}x{s['image_size'][1]} batch {s['batch']} "
             f"on {s['device']}, k runs in k processes, {s['seconds']:.0f} s windows, median of {result['repeats']}",
             "", f"| k | aggregate train img/s | per run img/s | aggregate / k={result['rows'][0]['k']} |",
             "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['k']} | {r['aggregate_img_s']:.1f} | {r['per_run_img_s']:.1f} | {r['gain_vs_first']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(worker(json.loads(sys.argv[1]))), flush=True)
