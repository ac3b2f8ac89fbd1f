"""What one run is: its resolved config, its folder, the files it reads.

Resolution order of a run config (each later layer wins, key by key):

    RunConfig defaults  <-  shared settings (config: model / train / data)
                        <-  recipes.<dataset>             (the dataset's recipe)
                        <-  recipes.<dataset>.protocols.<protocol>
                        <-  the variant (table parameter values and backbone overrides, l2l.plan.variants)
    + method, backbone, seed, protocol, data.path, tracking, and for a two-stage method
      model.init_from = the stage-one run's model.pt (the DAG edge of Table 7)

Everything here works on the Snakemake config as a plain dict (validated by l2l.schema) and on
path templates handed in by the caller, so it runs without Snakemake and without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from l2l.config import RunConfig, resolve
from l2l.errors import UserError
from l2l.methods import method_spec
from l2l.plan.variants import nested, parse_variant, stage_one_variant, variant_name
from l2l.protocols import DEFAULT_PROTOCOL, protocol_spec

SECTIONS = ("model", "train", "data")
# a run folder below <results_dir>/<experiment>/runs/ (the workflow's RUN_DIR, `l2l resolve`)
RUN_PATH = "{dataset}/{backbone}/{method}/{variant}/{protocol}/seed{seed}"


def folder_templates(results_dir: str) -> tuple[str, str]:
    """(run folder, prepared-dataset folder) templates below ``results_dir``: the workflow's RUN_DIR and
    DATASET_DIR (workflow/rules/common.smk) and `l2l resolve`'s."""
    return f"{results_dir}/{{experiment}}/runs/{RUN_PATH}", f"{results_dir}/datasets/{{dataset}}"


@dataclass(frozen=True)
class Run:
    """One point of the grid: the wildcards of a run folder."""

    dataset: str
    backbone: str
    method: str
    variant: str
    protocol: str
    seed: int
    experiment: str = ""  # results folder and MLflow experiment; "" = the config's `experiment`

    def fields(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "backbone": self.backbone, "method": self.method,
                "variant": self.variant, "protocol": self.protocol, "seed": self.seed,
                "experiment": self.experiment}

    def tags(self) -> dict[str, str]:
        """MLflow tags of the train job: every field as ``wildcard.<name>``, and the run name."""
        tags = {f"wildcard.{k}": str(v) for k, v in self.fields().items()}
        tags["run_name"] = "/".join([self.dataset, self.method, self.backbone, self.variant, self.protocol,
                                     f"seed{self.seed}"])
        return tags


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied key by key (nested mappings merged, everything else replaced;
    a mapping replaces a scalar, e.g. ``model.weights: {resnet50: timm}`` over ``torchvision_default``)."""
    out = dict(base)
    for key, value in overrides.items():
        old = out.get(key)
        out[key] = merge(old if isinstance(old, Mapping) else {}, value) if isinstance(value, Mapping) else value
    return out


def _sections(layer: Mapping[str, Any] | None) -> dict[str, Any]:
    return {s: layer[s] for s in SECTIONS if layer and layer.get(s)}


class Planner:
    """The runs of an experiment config, with the caller's folder templates.

    ``run_dir(dataset=, backbone=, method=, variant=, protocol=, seed=)`` formats a run folder;
    ``dataset_dir(dataset=)`` the prepared-dataset folder."""

    def __init__(self, config: Mapping[str, Any], run_dir: Callable[..., str],
                 dataset_dir: Callable[..., str]) -> None:
        self.config, self.run_dir, self.dataset_dir = config, run_dir, dataset_dir
        self._configs: dict[Run, tuple[dict[str, Any], RunConfig]] = {}  # refused here, at planning time

    # -- protocols ---------------------------------------------------------------------------------
    def protocol(self, suite: str | None = None) -> str:
        """The protocol of a target: config `protocol` if set, else the suite's (tables) or clean (grid)."""
        chosen = self.config.get("protocol")
        if chosen:
            return chosen
        if suite is not None:
            return self.config["table_suites"][suite].get("protocol") or DEFAULT_PROTOCOL
        return DEFAULT_PROTOCOL

    def forced(self) -> dict[str, Any]:
        """Flat overrides every run of this invocation gets as part of its variant (top-level ``epochs``:
        a shortened run has its own folder, ``train.epochs=N``, and never overwrites a full-length one)."""
        epochs = self.config.get("epochs")
        return {"train.epochs": int(epochs)} if epochs else {}

    def variant(self, dataset: str, protocol: str, overrides: Mapping[str, Any] | None = None) -> str:
        """Canonical variant of ``overrides`` plus the forced ones, relative to the dataset's base config."""
        return variant_name({**self.forced(), **(overrides or {})}, self.base_run_config(dataset, protocol))

    # -- run configs -------------------------------------------------------------------------------
    def recipe(self, dataset: str) -> Mapping[str, Any]:
        return (self.config.get("recipes") or {}).get(dataset) or {}

    def base_run_config(self, dataset: str, protocol: str) -> dict[str, Any]:
        """Shared settings <- recipe <- recipe's protocol block: what variant names are relative to."""
        protocol_spec(protocol)  # a UserError naming the protocols for an unknown one
        cfg = _sections(self.config)
        cfg = merge(cfg, _sections(self.recipe(dataset)))
        block = (self.recipe(dataset).get("protocols") or {}).get(protocol)
        return merge(cfg, _sections(block))

    def stage_one(self, run: Run) -> Run | None:
        """The run a two-stage method refines (same dataset, backbone, protocol, seed; its variant minus
        the refiner-only keys), or None for a one-stage method."""
        spec = method_spec(run.method)
        if not spec.two_stage:
            return None
        base = self.base_run_config(run.dataset, run.protocol)
        variant = stage_one_variant(run.variant, base, run.method)
        return Run(run.dataset, run.backbone, spec.stage_one, variant, run.protocol, run.seed, run.experiment)

    def stage_one_model(self, run: Run) -> str | None:
        first = self.stage_one(run)
        return f"{self.run_dir(**first.fields())}/model.pt" if first else None

    def run_config(self, run: Run) -> dict[str, Any]:
        """The nested run config of one train job (checked: raises UserError naming the key)."""
        return self._planned(run)[0]

    def _planned(self, run: Run) -> tuple[dict[str, Any], RunConfig]:
        """The run config and its resolved form, validated once per run (Snakemake asks several times)."""
        if run not in self._configs:
            cfg = self._run_config(run)
            self._configs[run] = (cfg, resolve(cfg, source=f"run {self.run_dir(**run.fields())}"))
        return self._configs[run]

    def _run_config(self, run: Run) -> dict[str, Any]:
        cfg = merge(self.base_run_config(run.dataset, run.protocol), nested(parse_variant(run.variant)))
        cfg = merge(cfg, {
            "method": run.method, "backbone": run.backbone, "seed": int(run.seed), "protocol": run.protocol,
            "data": {"path": self.dataset_dir(dataset=run.dataset)},
            "tracking": {"uri": self.config["tracking_uri"], "experiment": run.experiment or self.config["experiment"],
                         **self._tracking_switches()},
        })
        init_from = self.stage_one_model(run)
        if init_from:
            cfg = merge(cfg, {"model": {"init_from": init_from}})
        return cfg

    def _tracking_switches(self) -> dict[str, bool]:
        """system_metrics / log_models only when turned off: the run configs (Snakemake params) of the
        default stay as they were, so no run is retrained for it."""
        return {**({"system_metrics": False} if not self.config.get("system_metrics", True) else {}),
                **({"log_model": False} if not self.config.get("log_models", True) else {})}

    def resolved(self, run: Run) -> dict[str, Any]:
        """Every key of the run config, defaults included (what `l2l resolve` prints)."""
        return self._planned(run)[1].to_dict()

    # -- files a run reads -------------------------------------------------------------------------
    def cache_files(self, run: Run) -> list[str]:
        """The uint8 image caches a train job reads when data.cache is on (one per split it uses)."""
        data = self._planned(run)[1].data
        if not data.cache:
            return []
        height, width = data.image_size
        splits = dict.fromkeys(s for s in [*data.train_splits, data.val_split, data.test_split] if s)
        return [f"{data.path}/cache/{s}_{height}x{width}.npy" for s in splits]

    # -- grids -------------------------------------------------------------------------------------
    def grid(self) -> list[Run]:
        """The default grid (`snakemake all`): dataset x backbones x methods x seeds, base variant."""
        c, protocol = self.config, self.protocol()
        variant = self.variant(c["dataset"], protocol)
        return [Run(c["dataset"], b, m, variant, protocol, s, c["experiment"])
                for b in c["backbones"] for m in c["methods"] for s in c["seeds"]]
