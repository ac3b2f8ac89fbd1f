"""Pretrained weights for GPU nodes without internet: fetched once into a cache, read only from there.

GPU nodes of a cluster often have no internet. The ``fetch_weights`` rule (a local rule: it runs on the
submitting machine) downloads each planned backbone's weights once into ``<results_dir>/weights/`` and
records the sha256 of each file next to it; train jobs get ``L2L_WEIGHTS_DIR`` pointing there (and
``HF_HUB_OFFLINE=1``, ``TORCH_HOME`` inside the cache) and load only from the cached file, checking the
sha256, with ``torch.load(weights_only=True)`` or safetensors. A mirror (``weights_mirror``: a folder or
an http(s) URL holding the same relative paths) replaces the internet for the fetch. Layout, manifest and
the mirror's file names: docs/weights.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from l2l.errors import UserError
from l2l.pretrained import (  # noqa: F401  (the names the fetch and the CLI share with the models)
    CHUNK, ENV_DIR, FETCH_HINT, WeightFile, _recorded, cached_path, load_state_dict, sha256_of, weight_file)

HF_URL = "https://huggingface.co/{repo}/resolve/main/model.safetensors"


def of_relpath(relpath: str) -> WeightFile:
    """The WeightFile whose cache path is ``relpath`` (the fetch rule's wildcard), among all backbones."""
    from l2l.models.backbones import WEIGHT_SOURCES, list_backbones

    for backbone in list_backbones():
        for source in WEIGHT_SOURCES:
            try:
                wf = weight_file(backbone, source)
            except ValueError:
                continue
            if wf.relpath == relpath:
                return wf
    raise UserError(f"no backbone has pretrained weights named {relpath}; see docs/weights.md for the names")


def _source_url(wf: WeightFile, mirror: str | None) -> str:
    if mirror:
        if re.match(r"^[a-z][a-z0-9+.-]*://", mirror):
            return mirror.rstrip("/") + "/" + wf.relpath
        return Path(mirror, wf.relpath).resolve().as_uri()
    if wf.library == "torchvision":
        assert wf.url
        return wf.url
    try:
        from timm.models import get_pretrained_cfg
    except ImportError as e:
        from l2l.models.backbones import TIMM_EXTRA

        raise UserError(f"fetching {wf.relpath} from the Hugging Face Hub: {TIMM_EXTRA}") from e
    cfg = get_pretrained_cfg(wf.identifier)
    if cfg is None or not cfg.hf_hub_id:
        raise UserError(f"timm has no Hugging Face Hub weights for {wf.identifier}; set weights_mirror")
    return HF_URL.format(repo=cfg.hf_hub_id)


def _download(url: str, dest: Path, relpath: str, timeout: float = 60.0) -> None:
    """Copy ``url`` to ``dest`` atomically; an unreachable host says that this machine has no internet."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        src = Path(urllib.request.url2pathname(parsed.path))
        if not src.is_file():
            raise UserError(f"weights mirror has no {relpath} (looked for {src}); put the file there, or "
                            f"write stand-ins with `l2l weights standin` (docs/weights.md)")
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, CHUNK)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except urllib.error.HTTPError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"downloading {relpath} from {url} failed: HTTP {e.code} {e.reason}; check the URL "
                        f"(weights_mirror must hold {relpath})") from None
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, urllib.error.URLError) and e.filename == tmp:
            raise  # a local write error (disk full): the caller's message
        reason = getattr(e, "reason", e)
        raise UserError(f"cannot download {relpath} from {url} ({reason}): this machine has no internet access "
                        f"(or cannot reach {parsed.netloc or parsed.path}); {FETCH_HINT}") from None


def fetch(wf: WeightFile, cache: str | os.PathLike, mirror: str | None = None) -> Path:
    """Download ``wf`` into ``cache`` (from ``mirror`` if set) and write its sha256 next to it.

    A torchvision file fetched from its official URL must match the sha256 prefix in its name
    (torch.hub's check); a file already in the cache with a matching sha256 file is kept."""
    dest = Path(cache, wf.relpath)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sidecar = Path(cache, wf.sha256_relpath)
    if dest.is_file() and sidecar.is_file() and _recorded(sidecar) == sha256_of(dest):
        return dest
    url = _source_url(wf, mirror)
    _download(url, dest, wf.relpath)
    digest = sha256_of(dest)
    prefix = re.search(r"-([a-f0-9]{6,})\.", os.path.basename(wf.relpath))
    if not mirror and wf.library == "torchvision" and prefix and not digest.startswith(prefix.group(1)):
        dest.unlink()
        raise UserError(f"{wf.relpath} from {url} is corrupt (sha256 {digest[:12]}…, its name says "
                        f"{prefix.group(1)}); fetch it again")
    _write_atomic(sidecar, f"{digest}  {os.path.basename(wf.relpath)}\n")
    return dest


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_standin_mirror(directory: str | os.PathLike, backbones: Iterable[tuple[str, str]],
                         seed: int = 0) -> list[Path]:
    """Randomly initialised weights in the mirror's file names and formats, for (backbone, source) pairs.

    For rehearsals and tests without internet: point ``weights_mirror`` at ``directory``. The tensors
    are torchvision's architecture, seeded (``seed``), as the real files hold them (timm's ResNet keys
    are torchvision's)."""
    import torch
    import torchvision

    written = []
    for i, (backbone, source) in enumerate(dict.fromkeys(backbones)):
        wf = weight_file(backbone, source)
        torch.manual_seed(seed + i)
        state = torchvision.models.get_model(backbone, weights=None).state_dict()
        dest = Path(directory, wf.relpath)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        if wf.library == "timm":
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        else:
            torch.save(state, tmp)
        os.replace(tmp, dest)
        written.append(dest)
    return written


def needed(resolved_models: Iterable[tuple[str, dict]]) -> list[WeightFile]:
    """The weight files of runs given as (backbone, resolved model config); no file for unpretrained runs."""
    from l2l.models.backbones import weights_source

    files = {}
    for backbone, model in resolved_models:
        if model.get("pretrained"):
            wf = weight_file(backbone, weights_source(model.get("weights", "torchvision_default"), backbone))
            files[wf.relpath] = wf
    return list(files.values())


def target_weights(config: dict, target: str) -> list[WeightFile]:
    """The weight files the runs of a target (suite, table, ``all``) load."""
    from l2l.plan.suites import planners, target_runs

    plan = planners(config)[0]
    runs = [r for rs in target_runs(config, target).values() for r in rs]
    return needed((r.backbone, plan.resolved(r)["model"]) for r in runs)


def _pairs(args) -> list[tuple[str, str]]:
    from l2l.plan.experiment import experiment_from_args

    pairs = [tuple(b.split(":", 1)) if ":" in b else (b, "torchvision_default") for b in args.backbone or []]
    if args.target:
        config = experiment_from_args(args)
        pairs += [(wf.backbone, wf.source) for wf in target_weights(config, args.target)]
    if not pairs and not args.target:
        raise UserError("name weights with --backbone BACKBONE:SOURCE or --target TARGET")
    return pairs


def cmd_weights(args) -> None:
    if args.action == "standin":
        for path in write_standin_mirror(args.out, _pairs(args), args.seed):
            print(path)
        return
    if args.action == "list":
        for backbone, source in _pairs(args):
            wf = weight_file(backbone, source)
            print(f"{wf.relpath}\t{wf.backbone}\t{wf.source}\t{wf.url or 'Hugging Face Hub (timm ' + wf.identifier + ')'}")
        return
    files = [of_relpath(f) for f in args.file or []] + [weight_file(b, s) for b, s in
                                                         (_pairs(args) if args.backbone or args.target else [])]
    if not files:
        raise UserError("name weights with --file RELPATH, --backbone BACKBONE:SOURCE or --target TARGET")
    for wf in files:
        path = fetch(wf, args.cache, args.mirror or None)
        print(f"{path}  sha256 {_recorded(Path(args.cache, wf.sha256_relpath))}")


def add_parser(sub) -> None:
    """``l2l weights fetch|standin|list`` (cli.py registers it)."""
    import argparse

    from l2l.plan.experiment import add_experiment_options

    w = sub.add_parser("weights", help="pretrained weights for offline GPU nodes: fetch into the cache, list, stand-ins",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="fetch: download weights once into the cache (results/weights) and record their "
                                   "sha256; list: the cache file names a target needs; standin: write randomly "
                                   "initialised weights under those names (a mirror for rehearsals). docs/weights.md",
                       epilog="examples:\n  l2l weights fetch --target paper --cache results/weights\n"
                              "  l2l weights list --target paper\n"
                              "  l2l weights standin --target paper --out /tmp/mirror --seed 0\n"
                              "  l2l weights fetch --backbone resnet50:timm --cache results/weights --mirror /tmp/mirror")
    w.add_argument("action", choices=("fetch", "list", "standin"))
    w.add_argument("--backbone", action="append", metavar="BACKBONE[:SOURCE]",
                   help="e.g. resnet50:timm, resnet101:torchvision_v1 (source default torchvision_default)")
    w.add_argument("--target", help="every weight file the runs of this target load (paper, ablations, table5, all)")
    w.add_argument("--file", action="append", metavar="RELPATH", help="fetch: a cache path, e.g. timm/resnet50.ram_in1k.safetensors")
    w.add_argument("--cache", default="results/weights", help="fetch: the cache folder (default results/weights)")
    w.add_argument("--mirror", help="fetch: a folder or http(s) URL holding the same relative paths (weights_mirror)")
    w.add_argument("--out", help="standin: the mirror folder to write")
    w.add_argument("--seed", type=int, default=0, help="standin: seed of the random weights (default 0)")
    add_experiment_options(w, "--target: ")
    w.set_defaults(func=cmd_weights)


def run_weights(planner, run) -> list[WeightFile]:
    """The weight file(s) one planned run loads (the train rule's input; [] for an unpretrained run)."""
    return needed([(run.backbone, planner.resolved(run)["model"])])
