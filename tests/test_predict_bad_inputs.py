"""`l2l predict` on bad input (issue 23, items 13 and 18): one line naming the file and the fix, exit 2."""

from __future__ import annotations

import pytest

from tests.inprocess import l2l


@pytest.mark.parametrize("text, says", [
    ("method: [unclosed\n", "not a valid run config"),
    ("!!python/object/apply:os.system ['echo pwned']\n", "not a valid run config"),  # safe_load refuses the tag
    ("- a\n- list\n", "a run config must be a mapping"),
    ("train: {lr: -1}\n", "train.lr"),  # the schema names the key, and the file
], ids=["malformed", "python-tag", "list", "schema"])
def test_a_bad_run_config_yaml_is_one_line(tmp_path, text, says):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(text)
    (run / "model.pt").write_bytes(b"")
    (tmp_path / "imgs").mkdir()
    res = l2l("predict", "--run", str(run), "--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "p.csv"))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert str(run / "config.yaml") in res.stderr and says in res.stderr
    assert not (tmp_path / "pwned").exists()


def _run_folder(tmp_path):
    from l2l.checkpoint import save_checkpoint
    from l2l.config import resolve
    from l2l.engine import build_model
    from l2l.io import write_yaml

    run, cfg = tmp_path / "run", resolve({"model": {"ffn_dim": 32}})
    run.mkdir()
    write_yaml(run / "config.yaml", cfg.to_dict())
    save_checkpoint(run / "model.pt", {"model": build_model(cfg, 3).state_dict(), "config": cfg.to_dict(),
                                       "attributes": ["a", "b", "c"]})
    return run


def test_predict_on_cuda_without_a_gpu_is_one_line(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = _run_folder(tmp_path)
    (tmp_path / "imgs").mkdir()
    for device, says in (("cuda", "--device cuda: torch sees no CUDA GPU here"),
                         ("cuda:1", "--device cuda:1: torch sees no CUDA GPU here"),
                         ("tpu", "--device 'tpu' is not a torch device")):
        res = l2l("predict", "--run", str(run), "--images", str(tmp_path / "imgs"),
                  "--out", str(tmp_path / "p.csv"), "--device", device)
        assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
        assert says in res.stderr, res.stderr


def test_a_corrupt_image_in_predict_says_nothing_about_datasets(tmp_path):
    run = _run_folder(tmp_path)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    (imgs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    res = l2l("predict", "--run", str(run), "--images", str(imgs), "--out", str(tmp_path / "p.csv"),
              "--on-error", "fail")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "broken.png: image cannot be decoded" in res.stderr and "replace or remove it" in res.stderr
    assert "dataset" not in res.stderr and "prepare" not in res.stderr, res.stderr
    res = l2l("predict", "--run", str(run), "--images", str(imgs), "--out", str(tmp_path / "p.csv"))
    skipped = (tmp_path / "p.csv.skipped.csv").read_text()
    assert "replace or remove it" in skipped and "dataset" not in skipped and "prepare" not in skipped
