"""A checkpoint with a NaN or inf is refused at load, naming the tensor (issue 23, item 9): one NaN in a
running_var made `l2l predict` print NaN probabilities and all-0 labels with exit 0."""

from __future__ import annotations

import math

import pytest
import torch

from l2l.checkpoint import load_checkpoint, save_checkpoint
from l2l.config import resolve
from l2l.engine import build_model
from l2l.errors import UserError
from l2l.io import write_yaml
from l2l.run_folder import load_run


def _run_folder(tmp_path, poison=None):
    cfg = resolve({"model": {"ffn_dim": 32}})
    state = build_model(cfg, 4).state_dict()
    if poison:
        key, value = poison
        state[key].view(-1)[0] = value
    write_yaml(tmp_path / "config.yaml", cfg.to_dict())
    save_checkpoint(tmp_path / "model.pt", {"model": state, "config": cfg.to_dict(), "attributes": list("abcd")})
    return tmp_path, [k for k in state if k.endswith("running_var")][0]


def test_a_nan_running_var_is_refused_naming_the_tensor(tmp_path):
    _, key = _run_folder(tmp_path / "probe")
    run, _ = _run_folder(tmp_path / "run", (key, math.nan))
    with pytest.raises(UserError, match=rf"model\.pt: checkpoint holds NaN or inf values \(in model\.{key}\), "
                                        rf"refused;"):
        load_run(run)


def test_inf_in_a_nested_resume_state_is_refused(tmp_path):
    save_checkpoint(tmp_path / "resume.ckpt", {"best": {"state": {"w": torch.tensor([1.0, math.inf])}},
                                                "epoch": 2, "history": [{"val_error": 3.0}]})
    with pytest.raises(UserError, match=r"resume\.ckpt: .*\(in best\.state\.w\), refused; delete it"):
        load_checkpoint(tmp_path / "resume.ckpt", "delete it to start the run over")


def test_a_finite_checkpoint_loads(tmp_path):
    run, _ = _run_folder(tmp_path)
    assert load_run(run).attributes == list("abcd")
