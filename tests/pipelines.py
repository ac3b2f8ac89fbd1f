"""A one-run Snakemake pipeline on a tiny embedded dataset, for the tests that interrupt it (kill -9, Ctrl-C)."""

import os
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def one_run_pipeline(tmp_path: Path, experiment: str, n_train: int, epochs: int, ffn_dim: int, n_eval: int = 48):
    """(snakemake command, environment, run folder, train log) of one fc_head run, seed 0, protocol clean."""
    cfg = {
        "experiment": experiment, "results_dir": str(tmp_path / "results"),
        "tracking_uri": f"sqlite:///{tmp_path}/results/mlflow.db",
        "datasets": {"tiny": {"source": "embedded", "embedded": {"n_train": n_train, "n_val": n_eval, "n_test": n_eval}}},
        "dataset": "tiny",
        "methods": ["fc_head"], "seeds": [0], "model": {"ffn_dim": ffn_dim},
        "train": {"epochs": epochs, "batch_size": 16},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(config), "--cores", "1", "all"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    run = Path("tiny", "small_cnn", "fc_head", "base", "clean")
    exp = tmp_path / "results" / experiment
    return cmd, env, exp / "runs" / run / "seed0", exp / "logs" / "train" / run / "seed0.log"
