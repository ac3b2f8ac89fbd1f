"""The resolved configuration of one training run.

Snakemake's config describes a whole experiment grid; every train job receives
one point of that grid as a nested dict, which is resolved here against the
defaults below and written beside the run's outputs (detectron2 style), so a
run can be reproduced from that file and the recorded code version alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from l2l.errors import UserError

METHODS = ("fc_head", "aqn", "label2label", "mlm_mlp", "mlm_encoder", "icmlm_2stage")
# Table 7's two-stage methods: they refine a trained AQN run, loaded from model.init_from
TWO_STAGE_METHODS = ("mlm_mlp", "mlm_encoder", "icmlm_2stage")
MASK_STRATEGIES = ("attribute_specific", "attribute_agnostic", "zero")
LOGIT_BN = ("none", "mlm", "both")
LOSS_REDUCTIONS = ("mean", "sum")
PLATEAU_ON = ("auto", "train_loss", "val_loss", "val_error", "test_loss", "test_error")


@dataclass
class ModelConfig:
    aqn_layers: int = 1  # L, Transformer decoder layers of the attribute query network
    mlm_layers: int = 2  # D, Transformer decoder layers of the IC-MLM
    num_heads: int = 4
    ffn_dim: int = 2048
    dropout: float = 0.1
    mask_ratio: float = 0.1  # alpha
    mask_strategy: str = "attribute_specific"
    mlm_weight: float = 1.0  # lambda in eq. 4
    projection_dim: int | None = None  # None: d = backbone channels
    pretrained: bool = False  # ImageNet weights through torchvision's weights API
    # official-code switches (not stated in the paper):
    logit_bn: str = "none"  # none | mlm | both: BatchNorm1d on the logits (both: pseudo labels after it)
    freeze_bn: bool = False  # backbone BatchNorm frozen (running stats and affine fixed)
    mlm_dropout: float | None = None  # IC-MLM dropout; None: model.dropout
    init_from: str | None = None  # model.pt of the AQN run a two-stage method refines (frozen)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int = 256
    optimizer: str = "adamw"  # sgd | adamw
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
    selection_per_metric: bool = False  # also pick each metric's best epoch separately (official PA, on test)
    loss_weighting: str = "none"  # none | pa100k (exp(1-r) on positives, exp(r) on negatives)
    selection: str = "best_val"  # best_val | last | best_test (leaky, reproduces the official code)
    device: str = "cpu"
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


@dataclass
class RunConfig:
    method: str = "label2label"
    backbone: str = "small_cnn"
    seed: int = 0
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


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise UserError(f"config section '{where}' must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UserError(
            f"unknown config key(s) {', '.join(where + '.' + k if where else k for k in unknown)}; "
            f"valid keys{' in ' + where if where else ''}: {', '.join(known)}"
        )
    kwargs = {}
    for name, value in data.items():
        sub = _SECTIONS.get((cls, name))
        key = f"{where}.{name}" if where else name
        kwargs[name] = _build(sub, value, key) if sub else _typed(known[name].type, value, key)
    return cls(**kwargs)


_KINDS = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _typed(annotation: str, value: Any, key: str) -> Any:
    """Check a scalar against its field's type; a numeric string for a float becomes a float.

    YAML reads ``1e30`` (no dot) as a string, so ``--set train.lr=1e30`` would otherwise reach
    the optimizer as text and fail deep inside torch.
    """
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None and "None" in kinds:
        return None
    simple = [k for k in kinds if k in _KINDS]
    if not simple or len(simple) != len([k for k in kinds if k != "None"]):
        return value  # lists and dicts: checked by _check and the schema
    if "float" in simple and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    ok = any(isinstance(value, _KINDS[k]) and not (k != "bool" and isinstance(value, bool)) for k in simple)
    if not ok:
        want = " or ".join({"int": "an integer", "float": "a number", "str": "a string", "bool": "true/false"}[k]
                           for k in simple)
        raise UserError(f"config key {key} must be {want}{' or null' if 'None' in kinds else ''}, "
                        f"got {value!r} ({type(value).__name__})")
    return value


_SECTIONS = {
    (RunConfig, "model"): ModelConfig,
    (RunConfig, "train"): TrainConfig,
    (RunConfig, "data"): DataConfig,
    (RunConfig, "tracking"): TrackingConfig,
}


def _check(cfg: RunConfig) -> None:
    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise UserError(msg)

    need(cfg.method in METHODS, f"unknown method '{cfg.method}'; choose one of {', '.join(METHODS)}")
    m, t = cfg.model, cfg.train
    need(0.0 <= m.mask_ratio <= 1.0, f"model.mask_ratio (alpha) must be in [0, 1], got {m.mask_ratio}")
    need(m.mask_strategy in MASK_STRATEGIES,
         f"unknown model.mask_strategy '{m.mask_strategy}'; choose one of {', '.join(MASK_STRATEGIES)}")
    need(m.aqn_layers >= 1 and m.mlm_layers >= 1, "model.aqn_layers and model.mlm_layers must be >= 1")
    need(m.mlm_weight >= 0, f"model.mlm_weight (lambda) must be >= 0, got {m.mlm_weight}")
    need((cfg.method in TWO_STAGE_METHODS) == bool(m.init_from),
         f"method {cfg.method}: model.init_from must name the model.pt of a trained AQN run for the "
         f"two-stage methods ({', '.join(TWO_STAGE_METHODS)}) and be unset otherwise")
    need(t.epochs >= 1, f"train.epochs must be >= 1, got {t.epochs}")
    need(t.optimizer in ("sgd", "adamw"), f"train.optimizer must be sgd or adamw, got '{t.optimizer}'")
    need(t.scheduler in ("cosine", "plateau", "none"),
         f"train.scheduler must be cosine, plateau or none, got '{t.scheduler}'")
    need(t.selection in ("best_val", "last", "best_test"),
         f"train.selection must be best_val, last or best_test, got '{t.selection}'")
    need(t.loss_weighting in ("none", "pa100k"),
         f"train.loss_weighting must be none or pa100k, got '{t.loss_weighting}'")
    need(t.selection != "best_val" or cfg.data.val_split is not None,
         "train.selection=best_val needs data.val_split; set selection: last for datasets without val")
    need(len(cfg.data.image_size) == 2, "data.image_size must be [height, width]")
    need(m.logit_bn in LOGIT_BN, f"model.logit_bn must be one of {', '.join(LOGIT_BN)}, got '{m.logit_bn}'")
    need(m.mlm_dropout is None or 0.0 <= m.mlm_dropout < 1.0,
         f"model.mlm_dropout must be in [0, 1) or null, got {m.mlm_dropout}")
    need(t.mixup_alpha >= 0, f"train.mixup_alpha must be >= 0 (0 = off), got {t.mixup_alpha}")
    need(0.0 <= t.mixup_prob <= 1.0, f"train.mixup_prob must be in [0, 1], got {t.mixup_prob}")
    need(t.loss_reduction in LOSS_REDUCTIONS,
         f"train.loss_reduction must be one of {', '.join(LOSS_REDUCTIONS)}, got '{t.loss_reduction}'")
    need(t.logit_clamp is None or t.logit_clamp > 0, f"train.logit_clamp must be > 0 or null, got {t.logit_clamp}")
    need(t.plateau_on in PLATEAU_ON, f"train.plateau_on must be one of {', '.join(PLATEAU_ON)}, got '{t.plateau_on}'")
    need(not t.plateau_on.startswith("val_") or cfg.data.val_split is not None,
         f"train.plateau_on={t.plateau_on} needs data.val_split; use test_loss (official) or train_loss")
    need(not t.selection_per_metric or t.selection != "last",
         "train.selection_per_metric needs selection best_val or best_test (last picks no epoch)")
    need(cfg.data.randaugment_n >= 1 and 0 <= cfg.data.randaugment_m <= 30,
         f"data.randaugment_n must be >= 1 and data.randaugment_m in [0, 30], got "
         f"{cfg.data.randaugment_n}, {cfg.data.randaugment_m}")


def resolve(data: dict[str, Any]) -> RunConfig:
    """Defaults ← ``data``; raise :class:`UserError` naming the bad key and the valid choices."""
    cfg = _build(RunConfig, dict(data), "")
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


def replace(cfg: RunConfig, **changes: Any) -> RunConfig:
    return dataclasses.replace(cfg, **changes)
