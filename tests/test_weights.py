"""Pretrained weights for offline GPU nodes (l2l/weights.py, docs/weights.md): stand-in mirror, fetch from a
folder and from a loopback HTTP server, offline loading from the cache with its sha256 manifest."""

import functools
import http.server
import threading
from pathlib import Path

import pytest
import torch

from l2l import weights as W
from l2l.errors import UserError
from l2l.models.backbones import create_backbone

PAIRS = [("resnet18", "torchvision_v1"), ("resnet18", "timm")]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mirror")
    W.write_standin_mirror(out, PAIRS, seed=3)
    return out


@pytest.fixture
def http_mirror(mirror):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_standin_mirror_has_the_documented_names_and_formats(mirror):
    assert W.weight_file("resnet18", "torchvision_v1").relpath == "torchvision/resnet18-f37072fd.pth"
    assert W.weight_file("resnet18", "timm").relpath == "timm/resnet18.safetensors"
    state = torch.load(mirror / "torchvision/resnet18-f37072fd.pth", weights_only=True)
    assert "layer4.1.bn2.running_var" in state and "fc.weight" in state
    from safetensors.torch import load_file
    assert set(load_file(str(mirror / "timm/resnet18.safetensors"))) == set(state)
    # documented in docs/weights.md, as a mirror must hold them
    doc = (Path(__file__).parents[1] / "docs/weights.md").read_text()
    assert "torchvision/resnet50-0676ba61.pth" in doc and "timm/resnet50.ram_in1k.safetensors" in doc


@pytest.mark.parametrize("served", ["folder", "http"])
def test_fetch_from_mirror_then_load_offline(mirror, http_mirror, tmp_path, monkeypatch, served):
    cache = tmp_path / "weights"
    source = str(mirror) if served == "folder" else http_mirror
    for backbone, src in PAIRS:
        wf = W.weight_file(backbone, src)
        path = W.fetch(wf, cache, source)
        assert path.read_bytes() == (mirror / wf.relpath).read_bytes()
        line = (cache / wf.sha256_relpath).read_text().split()
        assert line == [W.sha256_of(path), Path(wf.relpath).name]
    monkeypatch.setenv(W.ENV_DIR, str(cache))
    standin = torch.load(mirror / "torchvision/resnet18-f37072fd.pth", weights_only=True)
    for _, src in PAIRS:  # the backbone holds the cached tensors, not torchvision's or timm's downloads
        body = create_backbone("resnet18", pretrained=True, weights=src)
        got = body.state_dict()["body.0.weight"]
        if src == "torchvision_v1":
            assert torch.equal(got, standin["conv1.weight"])
        else:
            from safetensors.torch import load_file
            assert torch.equal(got, load_file(str(mirror / "timm/resnet18.safetensors"))["conv1.weight"])


def test_train_job_without_cached_file_names_the_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv(W.ENV_DIR, str(tmp_path))
    with pytest.raises(UserError, match="not in the weights cache .*machine that has internet.*--until fetch_weights"):
        create_backbone("resnet18", pretrained=True, weights="torchvision_v1")


def test_a_changed_cached_file_is_refused(mirror, tmp_path, monkeypatch):
    wf = W.weight_file("resnet18", "torchvision_v1")
    path = W.fetch(wf, tmp_path, str(mirror))
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    monkeypatch.setenv(W.ENV_DIR, str(tmp_path))
    with pytest.raises(UserError, match="sha256 .* but the manifest"):
        create_backbone("resnet18", pretrained=True, weights="torchvision_v1")


def test_unreachable_source_says_no_internet(tmp_path):
    import socket
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wf = W.weight_file("resnet18", "torchvision_v1")
    with pytest.raises(UserError, match="no internet access.*machine that has internet") as e:
        W.fetch(wf, tmp_path, f"http://127.0.0.1:{port}/")
    assert "permission" not in str(e.value)
    assert not list(tmp_path.rglob("*.pth")) and not list(tmp_path.rglob("*.part"))


def test_mirror_folder_without_the_file_names_it(tmp_path):
    with pytest.raises(UserError, match="weights mirror has no torchvision/resnet18-f37072fd.pth"):
        W.fetch(W.weight_file("resnet18", "torchvision_v1"), tmp_path / "cache", str(tmp_path))


def test_paper_target_weights():
    from l2l.plan.experiment import load_experiment
    files = {wf.relpath for wf in W.target_weights(load_experiment(), "paper")}
    assert files == {"timm/resnet50.ram_in1k.safetensors", "torchvision/resnet101-63fe2227.pth",
                     "torchvision/vit_b_16-c867db91.pth", "torchvision/resnet50-0676ba61.pth",
                     "torchvision/alexnet-owt-7be5be79.pth"}
    assert W.target_weights(load_experiment(), "ablations") == []


@pytest.mark.slow
def test_pretrained_train_job_loads_the_fetched_file_offline(http_mirror, mirror, tmp_path):
    """`snakemake all` with a pretrained backbone: fetch from the mirror, then the train job (no internet
    here: a download would fail) loads the cached file; the run records what it loaded."""
    import subprocess
    import sys

    import yaml
    repo = Path(__file__).resolve().parents[1]
    config = tmp_path / "pretrained.yaml"
    config.write_text(yaml.safe_dump({
        "experiment": "pretrained", "weights_mirror": http_mirror, "backbones": ["resnet18"], "methods": ["fc_head"],
        "seeds": [0], "datasets": {"embedded": {"source": "embedded",
                                                "embedded": {"n_train": 32, "n_val": 16, "n_test": 16, "image_size": 32}}},
        "model": {"pretrained": True, "weights": "torchvision_v1"}, "train": {"epochs": 1, "batch_size": 16},
        "log_models": False, "system_metrics": False}))  # tests/test_tracking_cells.py has those
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(tmp_path),
                          "--configfile", str(config), "--cores", "1", "all"], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    got = tmp_path / "results/weights/torchvision/resnet18-f37072fd.pth"  # the local rule fetched it
    assert (got.with_name(got.name + ".sha256")).read_text().split()[0] == W.sha256_of(got)
    assert got.read_bytes() == (mirror / "torchvision/resnet18-f37072fd.pth").read_bytes()
    assert list((tmp_path / "results/pretrained/runs").rglob("metrics.json"))
