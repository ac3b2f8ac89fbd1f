"""Where a backbone's pretrained weights come from and how a job reads them: the source names
(``model.weights``), the cache file of each (``<cache>/torchvision/<file>.pth``, ``<cache>/timm/<name>.safetensors``)
and the sha256-checked, never-unpickling read. The fetch, the mirror and the CLI are in :mod:`l2l.weights`;
both read the names from here, so the models never import the fetcher (no import cycle). Torch is
imported only when weights are named or read, so the workflow (common.smk) imports this without it.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from l2l.errors import UserError

WEIGHT_SOURCES = ("torchvision_default", "torchvision_v1", "torchvision_v2", "timm")
_TV_MEMBER = {"torchvision_default": "DEFAULT", "torchvision_v1": "IMAGENET1K_V1", "torchvision_v2": "IMAGENET1K_V2"}
# timm model names (with a pretrained tag where it matters) whose weights ``model.weights: timm`` loads;
# the keys of timm's ResNets are torchvision's, so they load into our torchvision ResNet as they are.
# resnet50: the official LFWA code's `create_model('resnet50', pretrained=True)` under timm 0.4.12 gave
# resnet50_ram-a26f946b.pth, which timm >= 0.9 names `resnet50.ram_in1k` (a bare `resnet50` now resolves
# to `resnet50.a1_in1k`, other weights); the others take the pinned timm's (requirements.lock) default tag.
TIMM_NAMES = {"resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50.ram_in1k",
              "resnet101": "resnet101", "resnet152": "resnet152"}
TIMM_EXTRA = "model.weights=timm needs the optional extra timm: pip install '.[timm]' (or pip install timm)"


def weights_source(weights: str | Mapping[str, str], backbone: str) -> str:
    """The source for ``backbone``: ``weights`` is one source, or a mapping backbone → source with an
    optional ``default`` (e.g. the official LFWA code: timm for ResNet-50, torchvision V1 for ResNet-101)."""
    source = weights.get(backbone, weights.get("default", "torchvision_default")) \
        if isinstance(weights, Mapping) else weights
    if source not in WEIGHT_SOURCES:
        raise ValueError(f"unknown model.weights source '{source}' for {backbone}; choose one of "
                         f"{', '.join(WEIGHT_SOURCES)}")
    return source


def select_weights(backbone: str, source: str) -> tuple[str, str]:
    """(library, identifier) of the pretrained weights, without loading anything.

    ("torchvision", "ResNet50_Weights.IMAGENET1K_V1") or ("timm", "resnet50.ram_in1k"); a source the backbone
    does not have (e.g. V2 for AlexNet, timm for ViT) is a ValueError naming what exists."""
    import torchvision

    if source == "timm":
        if backbone not in TIMM_NAMES:
            raise ValueError(f"model.weights=timm is available for {', '.join(TIMM_NAMES)}, not {backbone}")
        return "timm", TIMM_NAMES[backbone]
    enum = torchvision.models.get_model_weights(backbone)
    member = _TV_MEMBER[source]
    if member not in enum.__members__:
        raise ValueError(f"torchvision has no {member} weights for {backbone} (model.weights={source}); "
                         f"available: {', '.join(enum.__members__)}")
    return "torchvision", str(enum[member])


ENV_DIR = "L2L_WEIGHTS_DIR"  # set for train jobs: load pretrained weights from this cache only
CHUNK = 1 << 20
FETCH_HINT = ("fetch them once on a machine that has internet (e.g. the login node): `snakemake --cores 1 <target> "
              "--until fetch_weights` or `l2l weights fetch --target <target> --cache results/weights`; or set "
              "weights_mirror to a folder or URL holding the files (docs/weights.md)")


@dataclass(frozen=True)
class WeightFile:
    """One pretrained-weights file: which backbone/source it serves and where it lives in the cache."""

    backbone: str
    source: str      # the model.weights source (torchvision_v1, timm, ...)
    library: str     # torchvision | timm
    identifier: str  # ResNet50_Weights.IMAGENET1K_V1 | resnet50.ram_in1k (timm model name and tag)
    relpath: str     # torchvision/resnet50-0676ba61.pth | timm/resnet50.ram_in1k.safetensors
    url: str | None  # the official download (torchvision); timm's is resolved from timm's registry at fetch

    @property
    def sha256_relpath(self) -> str:
        return self.relpath + ".sha256"


def weight_file(backbone: str, source: str) -> WeightFile:
    """The cache entry of ``backbone``'s weights from ``source`` (a ValueError if it has none)."""
    import torchvision

    library, identifier = select_weights(backbone, source)
    if library == "timm":
        return WeightFile(backbone, source, "timm", identifier, f"timm/{identifier}.safetensors", None)
    enum_name, member = identifier.split(".")
    weights = torchvision.models.get_model_weights(backbone)[member]
    assert type(weights).__name__ == enum_name
    return WeightFile(backbone, source, "torchvision", identifier,
                      f"torchvision/{os.path.basename(urllib.parse.urlparse(weights.url).path)}", weights.url)


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _recorded(sidecar: Path) -> str:
    return sidecar.read_text().split()[0] if sidecar.is_file() and sidecar.read_text().strip() else ""


def cached_path(wf: WeightFile, cache: str | os.PathLike) -> Path:
    """The cached file, its sha256 checked against the manifest; one line naming the fix if not."""
    path, sidecar = Path(cache, wf.relpath), Path(cache, wf.sha256_relpath)
    if not path.is_file() or not sidecar.is_file():
        raise UserError(f"pretrained weights {wf.relpath} ({wf.backbone}, model.weights={wf.source}) are not in "
                        f"the weights cache {cache}; this job reads weights offline only: {FETCH_HINT}")
    digest, recorded = sha256_of(path), _recorded(sidecar)
    if digest != recorded:
        raise UserError(f"{path} has sha256 {digest[:12]}… but the manifest {sidecar} says {recorded[:12]}…; "
                        f"delete both and fetch again ({FETCH_HINT})")
    return path


def load_state_dict(wf: WeightFile, cache: str | os.PathLike) -> dict:
    """The cached weights as a state dict (never unpickled: weights_only / safetensors)."""
    path = cached_path(wf, cache)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
