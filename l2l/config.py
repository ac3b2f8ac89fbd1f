"""The resolved configuration of one training run.

Snakemake's config describes a whole experiment grid; every train job receives
one point of that grid as a nested dict, which is resolved here against the
defaults below and written beside the run's outputs (detectron2 style), so a
run can be reproduced from that file and the recorded code version alone.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import operator
from dataclasses import asdict, dataclass, field
from typing import Any

from l2l.errors import UserError
from l2l.methods import MASK_STRATEGIES, method_names, two_stage_methods
from l2l.protocols import DEFAULT_PROTOCOL, protocol_names, protocol_spec

METHODS = method_names()  # the method catalogue, l2l/methods.py
# Table 7's two-stage methods: they refine a trained AQN run, loaded from model.init_from
TWO_STAGE_METHODS = two_stage_methods()
PROTOCOLS = protocol_names()  # the protocol catalogue, l2l/protocols.py
__all__ = ["MASK_STRATEGIES", "METHODS", "PROTOCOLS", "TWO_STAGE_METHODS", "RunConfig", "resolve", "with_overrides"]


_JSON_TYPES = {"integer": int, "number": float, "boolean": bool, "string": str, "null": type(None),
               "object": dict, "array": list}


def _annotation(spec: dict[str, Any]) -> Any:
    """The Python type of a schema entry (``[integer, "null"]`` -> ``int | None``; ``oneOf`` -> the union)."""
    alternatives = spec.get("oneOf") or [spec]
    names = [t for a in alternatives for t in ([a["type"]] if isinstance(a["type"], str) else a["type"])]
    return functools.reduce(operator.or_, dict.fromkeys(_JSON_TYPES[n] for n in names))


def _schema_field(spec: dict[str, Any]) -> Any:
    default = spec["default"]
    if isinstance(default, (dict, list)):
        return field(default_factory=functools.partial(copy.deepcopy, default))
    return field(default=default)


def _dataclass_of_section(name: str, section: str, doc: str) -> type:
    """A dataclass whose fields, types and defaults are the schema's keys of ``section``, in schema order."""
    from l2l.schema import section_properties

    props = section_properties(section)
    fields_ = [(key, _annotation(spec), _schema_field(spec)) for key, spec in props.items()]
    return dataclasses.make_dataclass(name, fields_, namespace={"__doc__": doc, "__module__": __name__})


# The model keys are declared once, in the config schema (type, range, default, description), and read
# once, by the component that uses them (l2l/models: each head and backbone is built from this config).
ModelConfig = _dataclass_of_section("ModelConfig", "model", """The ``model`` section of a run config.

Its fields, types and defaults are the config schema's ``model`` keys (l2l/schema.py), so adding a model
key is its schema entry plus the constructor that reads it (tests/test_models_from_config.py shows it).""")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int = 256
    optimizer: str = "adamw"  # sgd | adamw | adam
    lr: float = 1e-3
    head_lr: float | None = None  # None: same as lr
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "cosine"  # cosine | plateau | none
    plateau_patience: int = 4
    grad_clip: float | None = None
    mixup_alpha: float = 0.0  # Mixup Beta(alpha, alpha); 0 = off
    mixup_prob: float = 1.0  # probability that a batch is mixed (official LFWA: 0.2)
    mixup_label_embeddings: bool = False  # mixed batch: the IC-MLM also mixes the partner's label embeddings
    loss_reduction: str = "mean"  # mean: over batch x attributes | sum: over attributes, mean over batch (official PA)
    logit_clamp: float | None = None  # clamp logits to +-value inside the loss (official LFWA: 10)
    plateau_on: str = "auto"  # what ReduceLROnPlateau watches: auto (val_error, else train_loss) | <split>_loss | <split>_error
    plateau_loss: str = "total"  # total | prediction: the loss in <split>_loss (official PA: the IC-MLM logits alone)
    selection_metric: str = "error"  # the metric whose best epoch is tested (official PA: mA)
    # metrics whose best epoch is also picked each on its own (official PA: mA, accuracy, f1); [] = off
    selection_per_metric: list[str] = field(default_factory=list)
    loss_weighting: str = "none"  # none | pa100k (exp(1-r) on positives, exp(r) on negatives)
    ma_undefined_half: str = "skip"  # mA with no positive: skip (mean of the defined half) | zero (official)
    selection: str = "best_val"  # best_val | last | best_test (leaky, reproduces the official code)
    device: str = "auto"  # auto: CUDA when present, else CPU (l2l.devices); the word auto stays in the config
    threads: int = 1
    num_workers: int = 0
    # speed switches (docs/performance.md); they change numbers at most by float tolerance / RNG stream
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True  # NHWC memory format for convolutional backbones on CUDA
    fused_optimizer: bool = True  # fused optimizer step on CUDA (CPU: plain loop, foreach measured slower)
    compile: bool = False  # torch.compile the model (pays compile time once per run)


@dataclass
class DataConfig:
    path: str = ""  # a prepared-dataset folder (labels.csv + meta.yaml + images)
    image_size: list[int] = field(default_factory=lambda: [32, 32])  # H, W
    augment: list[str] = field(default_factory=list)  # any of: hflip, pad_crop, randaugment, randaugment_official
    augment_order: str = "fixed"  # fixed (AUGMENTATIONS order) | listed (the list's order; official LFWA)
    randaugment_n: int = 2  # randaugment_official: operations per image
    randaugment_m: int = 13  # randaugment_official: magnitude
    train_splits: list[str] = field(default_factory=lambda: ["train"])
    val_split: str | None = "val"
    test_split: str = "test"
    cache: bool = True  # read decoded, resized uint8 images from <data.path>/cache/ (l2l.data.cache)


@dataclass
class TrackingConfig:
    uri: str = "sqlite:///results/mlflow.db"
    experiment: str = "l2l"
    tags: dict[str, str] = field(default_factory=dict)
    system_metrics: bool = True  # MLflow's system/... metrics (CPU, memory; GPU with pynvml)
    log_model: bool = True  # the selected checkpoint as an MLflow logged model


@dataclass
class RunConfig:
    method: str = "label2label"
    backbone: str = "small_cnn"
    seed: int = 0
    # official: the authors' released code (leaky test-split selection allowed); clean: never selects
    # or schedules on the test split (checked below). Part of the fingerprint and the run folder.
    protocol: str = DEFAULT_PROTOCOL
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """Short hash of everything that changes the numbers (tracking excluded)."""
        d = self.to_dict()
        d.pop("tracking")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def flat_params(self) -> dict[str, str]:
        """Dotted key → value, for MLflow params."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)

        d = self.to_dict()
        d.pop("tracking")
        walk("", d)
        return out


def _build(cls: type, data: dict[str, Any]) -> Any:
    """Dataclasses from a mapping the schema has checked (keys known, scalars of the right type)."""
    kwargs = {}
    for name, value in data.items():
        sub = _SECTIONS.get((cls, name))
        kwargs[name] = _build(sub, value) if sub else value
    return cls(**kwargs)


_SECTIONS = {
    (RunConfig, "model"): ModelConfig,
    (RunConfig, "train"): TrainConfig,
    (RunConfig, "data"): DataConfig,
    (RunConfig, "tracking"): TrackingConfig,
}


def leaky_settings(cfg: RunConfig) -> list[str]:
    """The settings of ``cfg`` that select an epoch or step a schedule on the test split.

    The clean protocol refuses every one of them; the official protocol allows them (the authors'
    code does it) and the run is tagged leaky. A new "on test" switch belongs in this list."""
    t, d = cfg.train, cfg.data
    uses = []
    if t.selection == "best_test":
        uses.append("train.selection=best_test (the epoch is picked on the test split)")
    if t.plateau_on.startswith("test_") and t.scheduler == "plateau":
        uses.append(f"train.plateau_on={t.plateau_on} (the learning rate is scheduled on the test split)")
    if t.selection_per_metric and t.selection == "best_test":
        uses.append("train.selection_per_metric with best_test (each metric's epoch is picked on test)")
    if d.val_split is not None and d.val_split == d.test_split:
        uses.append(f"data.val_split={d.val_split} equals data.test_split (selection and the plateau "
                    f"scheduler would read the test split)")
    return uses


def _check(cfg: RunConfig) -> None:
    """Cross-field checks (one key at a time is the schema's job, l2l/schema.py)."""

    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise UserError(msg)

    m, t = cfg.model, cfg.train
    need((cfg.method in TWO_STAGE_METHODS) == bool(m.init_from),
         f"method {cfg.method}: model.init_from must name the model.pt of a trained AQN run for the "
         f"two-stage methods ({', '.join(TWO_STAGE_METHODS)}) and be unset otherwise")
    need(t.selection != "best_val" or cfg.data.val_split is not None,
         "train.selection=best_val needs data.val_split; set selection: last for datasets without val")
    need(not t.plateau_on.startswith("val_") or cfg.data.val_split is not None,
         f"train.plateau_on={t.plateau_on} needs data.val_split; use test_loss (official) or train_loss")
    need(not t.selection_per_metric or t.selection != "last",
         "train.selection_per_metric needs selection best_val or best_test (last picks no epoch)")
    leaks = [] if protocol_spec(cfg.protocol).may_use_test else leaky_settings(cfg)
    need(not leaks, f"protocol {cfg.protocol} never selects or schedules on the test split, but {'; '.join(leaks)}; "
                    f"use a val split (or selection: last), or protocol: official")


def _upgrade(checked: dict[str, Any]) -> dict[str, Any]:
    """Run configs written by older l2l (a run folder's config.yaml, model.pt) resolve as they did then:
    ``train.selection_per_metric: true / false`` meant every metric of the schema's list / none."""
    from l2l.schema import section_properties

    train = checked.get("train", {})
    if isinstance(train.get("selection_per_metric"), bool):
        every = section_properties("train")["selection_per_metric"]["items"]["enum"]
        train["selection_per_metric"] = list(every) if train["selection_per_metric"] else []
    return checked


def resolve(data: dict[str, Any], source: str = "") -> RunConfig:
    """Defaults ← ``data``, checked against the config schema; a one-line :class:`UserError` naming the key."""
    from l2l.schema import validate_run

    checked = _upgrade(validate_run(copy.deepcopy(data), source))
    cfg = _build(RunConfig, checked)
    _check(cfg)
    return cfg


def with_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a resolved config."""
    import yaml

    d = cfg.to_dict()
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override '{item}' is not key=value (e.g. model.mask_ratio=0.2)")
        key, raw = item.split("=", 1)
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise UserError(f"override '{item}': '{p}' is not a config section")
            node = node[p]
        node[parts[-1]] = yaml.safe_load(raw)
    return resolve(d)

