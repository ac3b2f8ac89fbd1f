"""Bad input and faults, through the real `l2l train` command: one line naming the cause and the fix,
exit code 2, and nothing half-written (no metrics.json, no temp file, no MLflow run left RUNNING)."""

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from l2l.cli import main
from l2l.data.format import sha256_file
from helpers import list_runs

from inprocess import l2l

TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=32", "--set", "model.ffn_dim=32"]


@pytest.fixture
def l2l_train(tmp_path, monkeypatch):
    """`l2l train` through the CLI's entry point, in this process (no torch + MLflow import per case)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def run(*sets, dataset=None, extra=(), out=None):
        args = ["train", "--out", str(out or tmp_path / "run"), *extra, *TINY,
                "--set", f"tracking.uri=sqlite:///{tmp_path}/m.db", "--set", "tracking.experiment=faults"]
        if dataset is not None:
            args += ["--set", f"data.path={dataset}"]
        for s in sets:
            args += ["--set", s]
        return l2l(*args)

    return run


def _one_line(res) -> str:
    """The whole of stderr, asserted to be one line (MLflow's INFO lines about creating the db aside)."""
    lines = [ln for ln in res.stderr.splitlines() if " INFO mlflow" not in ln]
    assert len(lines) == 1, res.stderr
    return lines[0]


def _nothing_half_written(tmp_path):
    run = tmp_path / "run"
    assert not (run / "metrics.json").exists()
    assert not list(run.glob(".*.tmp")) if run.exists() else True
    runs = list_runs(f"sqlite:///{tmp_path}/m.db", "faults") if (tmp_path / "m.db").exists() else []
    assert all(r.info.status == "FAILED" for r in runs), [r.info.status for r in runs]
    return runs


def _copy(dataset, tmp_path) -> Path:
    """A copy without the uint8 image cache, so that the images themselves are read."""
    return Path(shutil.copytree(dataset, tmp_path / "ds", ignore=shutil.ignore_patterns("cache")))


def _rewrite_labels(root: Path, df: pd.DataFrame) -> None:
    """Write labels.csv and update meta.yaml's checksum, as a hand-made dataset would be."""
    df.to_csv(root / "labels.csv", index=False)
    meta = (root / "meta.yaml").read_text()
    old = [ln for ln in meta.splitlines() if ln.startswith("labels_sha256")][0]
    (root / "meta.yaml").write_text(meta.replace(old, f"labels_sha256: {sha256_file(root / 'labels.csv')}"))


def test_unknown_config_key(tmp_path, tiny_dataset, l2l_train):
    res = l2l_train("model.layers=2", dataset=tiny_dataset)
    assert res.returncode == 2
    assert _one_line(res).startswith("l2l train: error: unknown config key(s) model.layers; valid keys in model:")
    assert not (tmp_path / "m.db").exists()


def test_unknown_backbone(tmp_path, tiny_dataset, l2l_train):
    res = l2l_train("backbone=resnet9", dataset=tiny_dataset)
    assert res.returncode == 2
    line = _one_line(res)
    assert "unknown backbone 'resnet9'" in line and "resnet18" in line, line
    assert not (tmp_path / "m.db").exists()


def test_unknown_method(tmp_path, tiny_dataset, l2l_train):
    res = l2l_train("method=mlp", dataset=tiny_dataset)
    assert res.returncode == 2
    assert _one_line(res) == ("l2l train: error: key method must be one of fc_head, aqn, label2label, "
                              "mlm_mlp, mlm_encoder, icmlm_2stage, got 'mlp'")


def test_config_file_missing_or_malformed(tmp_path, l2l_train):
    res = l2l_train(extra=["--config", str(tmp_path / "nope.yaml")])
    assert res.returncode == 2
    line = _one_line(res)
    assert str(tmp_path / "nope.yaml") in line and "No such file or directory" in line and "check the path" in line
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    res = l2l_train(extra=["--config", str(bad)])
    assert res.returncode == 2
    line = _one_line(res)
    assert str(bad) in line and "not valid YAML" in line, line


def test_dataset_folder_missing(tmp_path, l2l_train):
    res = l2l_train(dataset=tmp_path / "none")
    assert res.returncode == 2
    assert _one_line(res) == (f"l2l train: error: dataset folder {tmp_path / 'none'} does not exist; run the prepare "
                              "step (`l2l prepare ...` or the Snakemake rule) or fix data.path")
    assert not (tmp_path / "m.db").exists()


def test_corrupt_image(tmp_path, tiny_dataset, l2l_train):
    root = _copy(tiny_dataset, tmp_path)
    bad = sorted((root / "images").iterdir())[3]
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    res = l2l_train(dataset=root)
    assert res.returncode == 2
    line = _one_line(res)
    assert line.startswith(f"l2l train: error: {bad}: image cannot be decoded (") and "re-run prepare" in line, line
    _nothing_half_written(tmp_path)
    assert not (tmp_path / "m.db").exists()


# preloaded in this process; or decoded per sample by DataLoader workers, whose errors torch re-wraps
@pytest.mark.parametrize("sets", [(), ("data.cache=false", "data.image_size=[80,80]", "train.num_workers=2")])
def test_decompression_bomb_in_a_dataset_prepared_without_decoding(tmp_path, tiny_dataset, l2l_train, sets):
    """Issue 13 item 3: data prepared with --check-images exists, then an image declaring 30000x30000."""
    from bombs import bomb_png

    root = _copy(tiny_dataset, tmp_path)
    bomb = bomb_png(sorted((root / "images").iterdir())[5], 30000, 30000)
    res = l2l_train(*sets, dataset=root)
    assert res.returncode == 2
    line = _one_line(res)
    assert line.startswith(f"l2l train: error: {bomb}: image too large to decode ("), line
    assert "900000000 pixels" in line and "L2L_MAX_IMAGE_PIXELS" in line, line
    _nothing_half_written(tmp_path)


def test_labels_with_wrong_columns(tmp_path, tiny_dataset, l2l_train):
    root = _copy(tiny_dataset, tmp_path)
    df = pd.read_csv(root / "labels.csv", dtype={"image": str, "split": str})
    _rewrite_labels(root, df.rename(columns={"red": "colour_red"}))
    res = l2l_train(dataset=root)
    assert res.returncode == 2
    assert _one_line(res) == (f"l2l train: error: {root / 'labels.csv'}: columns do not match meta.yaml (missing: "
                              "['red'], unexpected: ['colour_red']); expected image,split,<attributes>")


def test_labels_edited_after_preparation(tmp_path, tiny_dataset, l2l_train):
    root = _copy(tiny_dataset, tmp_path)
    df = pd.read_csv(root / "labels.csv", dtype={"image": str, "split": str})
    df.drop(columns=["red"]).to_csv(root / "labels.csv", index=False)  # checksum in meta.yaml now stale
    res = l2l_train(dataset=root)
    assert res.returncode == 2
    assert _one_line(res) == (f"l2l train: error: {root / 'labels.csv'}: does not match labels_sha256 in meta.yaml "
                              "(edited or truncated after preparation); re-run `l2l prepare`")


def test_cuda_requested_without_gpu(tmp_path, tiny_dataset, l2l_train):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    res = l2l_train("train.device=cuda", dataset=tiny_dataset)
    assert res.returncode == 2
    line = _one_line(res)
    assert "train.device is 'cuda' but torch sees no CUDA GPU here" in line and "train.device=cpu" in line, line
    assert not (tmp_path / "m.db").exists()


def test_nan_loss_marks_the_run_failed_and_keeps_the_checkpoint(tmp_path, tiny_dataset, l2l_train):
    res = l2l_train("train.lr=1e30", "train.epochs=2", dataset=tiny_dataset)
    assert res.returncode == 2
    line = _one_line(res)
    assert line.startswith("l2l train: error: training loss is nan in epoch 1 (MLflow run "), line
    assert "marked FAILED); lower train.lr or set train.grad_clip;" in line
    assert line.endswith(f"{tmp_path / 'run' / 'resume.ckpt'} keeps the weights before training")
    runs = _nothing_half_written(tmp_path)
    assert len(runs) == 1 and runs[0].info.run_id in line
    assert (tmp_path / "run" / "resume.ckpt").is_file()
    # the fix: a sane lr; the checkpoint of the other config is moved aside, a new run starts and finishes
    fixed = l2l_train("train.epochs=2", dataset=tiny_dataset)
    assert fixed.returncode == 0, fixed.stderr
    assert "belongs to another config" in fixed.stdout
    statuses = sorted(r.info.status for r in list_runs(f"sqlite:///{tmp_path}/m.db", "faults"))
    assert statuses == ["FAILED", "FINISHED"]


def _enospc_in_to_csv(monkeypatch, name):
    """pandas writes part of ``name`` and then the disk is full."""
    real = pd.DataFrame.to_csv

    def to_csv(self, path=None, *args, **kwargs):
        if path is not None and Path(path).name.startswith(f".{name}."):
            Path(path).write_text("epoch,train_lo")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)


def test_disk_full_while_writing_outputs(tmp_path, tiny_dataset, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["train", "--out", str(tmp_path / "run"), *TINY, "--set", f"data.path={tiny_dataset}",
            "--set", f"tracking.uri=sqlite:///{tmp_path}/m.db", "--set", "tracking.experiment=faults"]
    _enospc_in_to_csv(monkeypatch, "history.csv")
    assert main(args) == 2
    err = _one_line(subprocess.CompletedProcess([], 2, "", capsys.readouterr().err))
    history = tmp_path / "run" / "history.csv"
    assert err == (f"l2l train: error: {history}: cannot write (No space left on device); free space or fix "
                   f"permissions in {history.parent}, then re-run (the previous file, if any, is intact)")
    runs = _nothing_half_written(tmp_path)
    assert len(runs) == 1
    assert not history.exists()
    assert (tmp_path / "run" / "resume.ckpt").is_file()  # the trained epoch is not lost
    monkeypatch.undo()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(args) == 0  # space freed: the rerun only tests and writes, in the same MLflow run
    out = capsys.readouterr().out
    assert "all 1 epochs done" in out
    runs = list_runs(f"sqlite:///{tmp_path}/m.db", "faults")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert history.is_file() and (tmp_path / "run" / "metrics.json").is_file()


@pytest.fixture
def full_disk(tmp_path):
    """A real 256 KiB tmpfs (root only): writes beyond it fail with ENOSPC from the kernel."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_real_full_disk_leaves_old_file_and_no_temp(full_disk):
    from l2l.io import OutputWriteError, write_text

    target = full_disk / "table.csv"
    write_text(target, "old,complete\n")
    with pytest.raises(OutputWriteError, match=f"{target}: cannot write \\(No space left on device\\)"):
        write_text(target, "x" * 1024 * 1024)
    assert target.read_text() == "old,complete\n"
    assert sorted(p.name for p in full_disk.iterdir()) == ["table.csv"]


def test_real_full_disk_during_training(full_disk, tmp_path, tiny_dataset, l2l_train):
    run = full_disk / "run"
    res = l2l_train("model.ffn_dim=256", dataset=tiny_dataset, out=run)
    assert res.returncode == 2
    line = _one_line(res)
    assert line.startswith(f"l2l train: error: {run / 'resume.ckpt'}: cannot write (No space left on device)"), line
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]  # no temp file, no partial checkpoint
    runs = list_runs(f"sqlite:///{tmp_path}/m.db", "faults")
    assert [r.info.status for r in runs] == ["FAILED"]


def test_nan_in_a_later_epoch_keeps_the_last_good_epoch(tmp_path, tiny_dataset, l2l_train, monkeypatch):
    import torch

    import l2l.engine

    real, calls = l2l.engine.masked_bce, []

    def nan_from_epoch_2(*args, **kwargs):  # tiny_dataset: 96 train images / batch 32 = 3 batches per epoch
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) > 3 else loss

    monkeypatch.setattr(l2l.engine, "masked_bce", nan_from_epoch_2)
    res = l2l_train("train.epochs=3", "method=fc_head", dataset=tiny_dataset)
    assert res.returncode == 2
    line = _one_line(res)
    assert "training loss is nan in epoch 2" in line and line.endswith("keeps the last good epoch (1)"), line
    ckpt = torch.load(tmp_path / "run" / "resume.ckpt", weights_only=True)
    assert ckpt["epoch"] == 0 and len(ckpt["history"]) == 1 and ckpt["history"][0]["train_loss"] > 0
    assert [r.info.status for r in _nothing_half_written(tmp_path)] == ["FAILED"]
