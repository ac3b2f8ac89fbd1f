"""What one invocation's own settings mean beyond a plain merge of config files (torch-free).

Snakemake merges ``config/*.yaml``, then the user's ``--configfile`` files and ``--config`` values (the
*user layer*) key by key. Three things need more than that merge, and are decided here for the workflow
(``workflow/rules/common.smk``) and for ``l2l resolve`` / the tests (:func:`l2l.plan.experiment.load_experiment`):

* **own data gets its own place**: a user layer naming a dataset other than the demo's, and no
  ``experiment``, gets the experiment (results folder and MLflow experiment) named after that dataset,
  so the README's ``my.yaml`` never writes into ``results/embedded_demo/``;
* **suites can be shrunk**: ``seeds`` set by the user applies to every table suite too (each suite's own
  ``table_suites.<suite>.seeds`` otherwise); the top-level ``epochs`` key is applied by the planner
  (:meth:`l2l.plan.runs.Planner.forced`), as a variant, so shortened runs get their own folders;
* **the rehearsal** (``rehearsal: true``): :func:`rehearsal_config`; its datasets and pretrained weights are
  stand-ins (:mod:`l2l.data.standins`, :func:`l2l.weights.write_standin_mirror`) written by local rules
  (``workflow/rules/rehearsal.smk``) and read by the real prepare and fetch rules.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from l2l.plan.runs import merge

# datasets whose source has a stand-in writer (l2l.data.standins.REHEARSAL_WRITERS; kept torch- and numpy-free)
STANDIN_SOURCES = ("lfwa", "pa100k", "clothing", "peta", "rapv1", "rapv2", "celeba", "petazs", "rapzs")
# the rehearsal's stand-in Clothing has 20 images: 12 train, 8 test (l2l.data.standins)
STANDIN_PREPARE = {"clothing": {"train_size": 12}}
REHEARSAL_DIR = "rehearsal"  # <results_dir>/rehearsal/: everything the rehearsal writes
STANDIN_MIRROR = "standins/weights-mirror"  # below it: the stand-in weights the fetch copies (docs/weights.md)
# every run of the rehearsal: the recipe's model, methods and backbones, at a tiny size on the CPU
REHEARSAL_RUN = {
    "train": {"epochs": 1, "batch_size": 4, "eval_batch_size": 16, "num_workers": 0, "device": "cpu"},
    "data": {"image_size": [64, 64], "cache": False},  # images decoded in the job: no cache jobs (tested apart)
}


def apply_user_layer(config: dict[str, Any], user: Mapping[str, Any], demo_dataset: str | None) -> dict[str, Any]:
    """Own data's experiment and the user's seeds for the suites, in place (``config`` validated).

    ``user``: the merged ``--configfile`` / ``--config`` values; ``demo_dataset``: the ``dataset`` of
    config/config.yaml (whose experiment the config files name)."""
    if "experiment" not in user and user.get("dataset") and config["dataset"] != demo_dataset:
        config["experiment"] = config["dataset"]
    if "seeds" in user:
        for suite in (config.get("table_suites") or {}).values():
            suite["seeds"] = list(config["seeds"])
    return config


def rehearsal_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config of a rehearsal: every paper and field dataset replaced by its stand-in, every run 1 epoch at 64 px
    on the CPU, one seed per suite, everything under ``<results_dir>/rehearsal/`` with its own MLflow store.

    Methods, backbones, recipes (pretrained weights included) and tables stay as configured, so the same
    rules, preparers, models and report code run as in the real suite; nothing of a real run is touched."""
    out = copy.deepcopy(dict(config))
    if config["results_dir"].rstrip("/").endswith(f"/{REHEARSAL_DIR}"):  # already applied
        return out
    results = f"{config['results_dir']}/{REHEARSAL_DIR}"
    out["results_dir"] = results
    out["tracking_uri"] = f"sqlite:///{results}/mlflow.db"
    out["weights_mirror"] = f"{results}/{STANDIN_MIRROR}"  # stand-in weights, real names and formats
    for name, d in out["datasets"].items():
        if d["source"] in STANDIN_SOURCES:
            d.update(path=standin_path(results, name), url=None, sha256=None, **STANDIN_PREPARE.get(d["source"], {}))
    recipes = out.setdefault("recipes", {})
    for name, d in out["datasets"].items():
        if d["source"] in STANDIN_SOURCES:
            recipes[name] = merge(recipes.get(name) or {}, REHEARSAL_RUN)
    for suite in (out.get("table_suites") or {}).values():
        suite["seeds"] = suite["seeds"][:1]
    return out


def standin_path(results_dir: str, dataset: str) -> str:
    """Folder of a dataset's stand-in source (the standin_dataset rule writes it)."""
    return f"{results_dir}/standins/{dataset}"


def standins(config: Mapping[str, Any]) -> dict[str, str]:
    """``{dataset: stand-in folder}`` of a rehearsal config ({} otherwise)."""
    if not config.get("rehearsal"):
        return {}
    return {n: standin_path(config["results_dir"], n) for n, d in config["datasets"].items()
            if d["source"] in STANDIN_SOURCES}


def finish_config(config: dict[str, Any], user: Mapping[str, Any], demo_dataset: str | None) -> dict[str, Any]:
    """The user layer's rules, then the rehearsal's settings when ``rehearsal`` is on (in place)."""
    apply_user_layer(config, user, demo_dataset)
    if config.get("rehearsal"):
        rehearsed = rehearsal_config(config)
        config.clear()
        config.update(rehearsed)
    return config
