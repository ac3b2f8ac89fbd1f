"""MLflow runs grouped by table cell, logged models and system metrics (issue 24), on a real sqlite store.

Parallel seed jobs of one cell are real processes started together: one parent, every seed its child. A job
killed after its cell's parent was made leaves no second parent on rerun. The logged model, loaded back
through MLflow, predicts what ``l2l predict --run runs:/<id>`` predicts; system/... metrics come from
MLflow's own monitor, and its switch turns them off.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from helpers import REPO, run_config
from l2l.tracking import PARENT_TAG, ROLE_TAG, Tracker, cell_of
from helpers import list_runs
from tests.inprocess import l2l

CELL = {"dataset": "embedded", "backbone": "small_cnn", "method": "fc_head", "variant": "base", "protocol": "clean"}


def job_tags(seed: int, **cell: str) -> dict[str, str]:
    return {f"wildcard.{k}": v for k, v in {**CELL, **cell, "seed": str(seed), "experiment": "cells"}.items()}


START_ONE = """
import sys, time
from pathlib import Path
from l2l.tracking import Tracker
import mlflow.tracking  # imported before the barrier, so that no process lags behind on imports
uri, seed, barrier = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
tags = {f"wildcard.{k}": v for k, v in dict(dataset="embedded", backbone="small_cnn", method="fc_head",
        variant="base", protocol="clean", seed=str(seed), experiment="cells").items()}
(barrier / str(seed)).touch()
while len(list(barrier.iterdir())) < 4:  # every process asks for the cell's parent at the same moment
    time.sleep(0.01)
Tracker.start(uri, "cells", f"seed{seed}", tags, {}).finish()
"""


def test_parallel_seed_jobs_create_one_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    Tracker.start(uri, "cells", "other", {}, {}).finish()  # the store and experiment exist, as init_tracking makes them
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    barrier = tmp_path / "ready"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", START_ONE, uri, str(s), str(barrier)], env=env,
                              stderr=subprocess.PIPE, text=True) for s in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    runs = list_runs(uri, "cells", parents=True)
    parents = [r for r in runs if r.data.tags.get(ROLE_TAG) == "parent"]
    children = [r for r in runs if PARENT_TAG in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    assert len(children) == 4 and {r.data.tags[PARENT_TAG] for r in children} == {parents[0].info.run_id}
    assert parents[0].info.run_name == "embedded/fc_head/small_cnn/base/clean"
    assert [r.info.run_name for r in list_runs(uri, "cells")].count("other") == 1  # no parent listed by default


def test_rerun_after_a_kill_reuses_the_parent(tmp_path):
    """A job killed between the parent's creation and its own run: the rerun's child goes under that parent."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = Tracker.start(uri, "cells", "seed0", job_tags(0), {})
    killed = Tracker(uri, "", first.experiment_id)
    other_cell = cell_of(job_tags(1, method="aqn"))
    orphan = killed._call(lambda: killed._parent_of(other_cell))  # the parent, then the kill
    rerun = Tracker.start(uri, "cells", "seed1", job_tags(1, method="aqn"), {})
    runs = list_runs(uri, "cells", parents=True)
    assert sum(r.data.tags.get(ROLE_TAG) == "parent" for r in runs) == 2  # one per cell, none twice
    by_id = {r.info.run_id: r for r in runs}
    assert by_id[rerun.run_id].data.tags[PARENT_TAG] == orphan
    assert by_id[first.run_id].data.tags[PARENT_TAG] != orphan


def test_a_run_by_hand_has_no_parent(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    Tracker.start(uri, "cells", "by hand", {"dataset": "x"}, {}).finish()
    (run,) = list_runs(uri, "cells", parents=True)
    assert PARENT_TAG not in run.data.tags


@pytest.fixture(scope="module")
def logged_run(tiny_dataset, tmp_path_factory):
    from l2l.engine import train

    tmp = tmp_path_factory.mktemp("logged")
    os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = "1"
    try:
        cfg = run_config(tiny_dataset, tmp, "models", method="fc_head", train={"epochs": 2},
                         tracking_switches=True)
        result = train(cfg, tmp / "run", tags=job_tags(0))
    finally:
        del os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"]
    return tmp, result


def test_logged_model_predicts_like_l2l_predict(logged_run, tiny_dataset):
    import mlflow

    tmp, result = logged_run
    uri, run_id = f"sqlite:///{tmp}/mlflow.db", result["mlflow_run_id"]
    exp_id = list_runs(uri, "models")[0].info.experiment_id
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        (model,) = mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list")
        assert model.source_run_id == run_id and model.name == "embedded-fc_head-small_cnn-seed0"
        linked = {m.key: m.value for m in model.metrics}
        assert linked["test_error"] == pytest.approx(result["test"]["error"])  # its test metrics, on the model
        loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
        images = sorted((tiny_dataset / "images").iterdir())[:12]
        ours = loaded.predict(pd.DataFrame({"image": [str(p) for p in images]}))
    res = l2l("predict", "--run", f"runs:/{run_id}", "--uri", uri, "--images", str(tiny_dataset / "images"),
              "--out", str(tmp / "p.csv"))
    assert res.returncode == 0, res.stderr
    cli = pd.read_csv(tmp / "p.csv")
    cli = cli.set_index("image").loc[[str(p) for p in images]].reset_index(drop=True)
    assert list(ours.columns) == list(cli.columns)
    pd.testing.assert_frame_equal(ours.astype(cli.dtypes.to_dict()), cli, rtol=1e-6)


def test_system_metrics_are_logged_and_switch_off(logged_run, tiny_dataset, tmp_path):
    from l2l.engine import train

    tmp, result = logged_run
    (run,) = list_runs(f"sqlite:///{tmp}/mlflow.db", "models")
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(run.data.metrics)
    cfg = run_config(tiny_dataset, tmp_path, "off", method="fc_head", train={"epochs": 1})  # switches off
    train(cfg, tmp_path / "run")
    (off,) = list_runs(f"sqlite:///{tmp_path}/mlflow.db", "off")
    assert not [k for k in off.data.metrics if k.startswith("system/")]
    assert not off.outputs or not off.outputs.model_outputs
