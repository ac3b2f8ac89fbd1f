"""Table 7's two-stage methods: the engine's one loop trains only the refiner on a frozen AQN run."""

import pytest
import torch
import yaml

from l2l.engine import train
from l2l.errors import UserError

from helpers import run_config

def _cfg(tiny_dataset, tmp_path, method, **model):
    return run_config(tiny_dataset, tmp_path, "t", method, model={"ffn_dim": 32, **model},
                      train={"epochs": 1, "batch_size": 32}, seed=0)


@pytest.fixture(scope="module")
def aqn_run(tiny_dataset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aqn")
    train(_cfg(tiny_dataset, tmp, "aqn"), tmp / "run", log=lambda m: None)
    return tmp / "run"


@pytest.mark.parametrize("method", ["mlm_mlp", "mlm_encoder", "icmlm_2stage"])
def test_refiner_trains_and_stage_one_stays_frozen(method, aqn_run, tiny_dataset, tmp_path):
    stage_one = torch.load(aqn_run / "model.pt", weights_only=True)["model"]
    result = train(_cfg(tiny_dataset, tmp_path, method, init_from=str(aqn_run / "model.pt")), tmp_path / "run",
                   log=lambda m: None)
    after = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["model"]
    for key, value in stage_one.items():  # backbone (BatchNorm statistics included) and AQN unchanged
        assert torch.equal(after[key], value), key
    assert any(k.startswith("head.refiner.") for k in after)
    # the frozen AQN gives the same test predictions as the AQN run it came from
    aqn_error = yaml.safe_load((aqn_run / "metrics.json").read_text())["test"]["error"]
    assert result["test"]["aqn_error"] == pytest.approx(aqn_error)


def test_init_from_must_be_an_aqn_run(aqn_run, tiny_dataset, tmp_path):
    with pytest.raises(UserError, match="init_from"):
        _cfg(tiny_dataset, tmp_path, "mlm_mlp")
    l2l_dir = tmp_path / "l2l"
    train(_cfg(tiny_dataset, tmp_path, "label2label"), l2l_dir, log=lambda m: None)
    with pytest.raises(UserError, match="must be an AQN run"):
        train(_cfg(tiny_dataset, tmp_path, "mlm_mlp", init_from=str(l2l_dir / "model.pt")), tmp_path / "x",
              log=lambda m: None)
