"""Hostile and careless inputs (issue 13, items 3-7, 11-13, 15): each is reproduced, then refused with
one line naming the file or key and the fix, and nothing half-written is left behind."""

import importlib.metadata
import io
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from bombs import bomb_png
from PIL import Image
from realformats import make_csv

from l2l import metrics as M
from l2l.cli import main
from l2l.data import load_prepared
from l2l.data.format import sha256_file
from l2l.data.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, read_image
from l2l.data.prepare import prepare
from l2l.errors import UserError

REPO = Path(__file__).resolve().parents[1]


# ---- item 3: decompression bombs ----
def test_bomb_declaring_30000_squared_is_one_clear_error(tmp_path):
    bomb = bomb_png(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(UserError) as info:
        read_image(bomb)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{bomb}: image too large to decode (")
    assert MAX_PIXELS_ENV in msg and "shrink it" in msg


def test_image_above_our_limit_but_below_pils_is_refused_before_decoding(tmp_path):
    """9000² (81 Mpx) is below PIL's own warning limit (89 Mpx): only our limit stops it, from the header."""
    bomb = bomb_png(tmp_path / "big.png", 9000, 9000, full=True)
    code = ("import resource, sys\nfrom l2l.data.images import read_image\nfrom l2l.errors import UserError\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    read_image(sys.argv[1]); print('decoded')\nexcept UserError as e:\n    print('refused', e)\n"
            "print('grew_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    res = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "refused" in res.stdout and "9000 x 9000 = 81000000 pixels" in res.stdout, res.stdout
    grew_mb = int(re.search(r"grew_kb (\d+)", res.stdout).group(1)) / 1024
    assert grew_mb < 50, f"peak memory grew by {grew_mb:.0f} MB: the image was decoded"  # decoding: +243 MB at least


def test_pixel_limit_is_configurable_and_checked(tmp_path, monkeypatch):
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 30)).save(small)
    assert read_image(small).size == (40, 30)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    with pytest.raises(UserError, match=r"40 x 30 = 1200 pixels, above the limit of 1000"):
        read_image(small)
    monkeypatch.setenv(MAX_PIXELS_ENV, "1200")
    assert read_image(small).size == (40, 30)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(UserError, match=f"{MAX_PIXELS_ENV}='lots' is not a pixel count"):
        read_image(small)
    assert DEFAULT_MAX_PIXELS == 8192 * 8192


# ---- item 15: the Python floor is Snakemake's ----
def _floor(spec: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.search(r">=\s*([\d.]+)", spec).group(1).split("."))


def test_python_floor_matches_snakemake_and_the_docs():
    ours = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    snakemake = importlib.metadata.metadata("snakemake")["Requires-Python"]
    assert _floor(ours) >= _floor(snakemake), (ours, snakemake)
    floor = ".".join(map(str, _floor(ours)))
    for doc in ("README.md", "environment.yml", "docs/performance.md", "config/README.md"):
        said = re.findall(r"python\W{0,3}(?:>=|≥|=)\s*(3\.\d+)", (REPO / doc).read_text(), re.IGNORECASE)
        assert all(tuple(map(int, v.split("."))) >= _floor(ours) for v in said), (doc, said)
    assert f"Python ≥ {floor}" in (REPO / "README.md").read_text()
    assert f"python={floor}" in (REPO / "environment.yml").read_text()


def test_prepare_refuses_a_bomb_when_decoding_and_leaves_nothing(tmp_path):
    src = tmp_path / "mine"
    make_csv(src)
    bomb_png(src / "photos" / "b.jpg", 30000, 30000)  # any name: PIL reads the header, not the suffix
    with pytest.raises(UserError, match=r"photos/b.jpg: image too large to decode \(") as info:
        prepare("csv", src, tmp_path / "out")
    assert str(src) in str(info.value) and "\n" not in str(info.value)
    assert _leftovers(tmp_path) == []
    prepare("csv", src, tmp_path / "out", check_decode=False)  # --check-images exists: found at training
    assert (tmp_path / "out" / "meta.yaml").is_file()


# ---- items 4-7: a custom labels.csv from anyone ----
def _labels(src: Path, lines: list[str], encoding: str = "utf-8", bom: bool = False) -> Path:
    """make_csv's images with our own labels.csv."""
    make_csv(src)
    data = "\n".join(lines).encode(encoding) + b"\n"
    (src / "labels.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return src


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".out") or p.name == "out")


def _refused(tmp_path, src, message) -> str:
    with pytest.raises(UserError, match=message) as info:
        prepare("csv", src, tmp_path / "out")
    text = str(info.value)
    assert "\n" not in text and str(src / "labels.csv") in text and ".partial" not in text, text
    assert _leftovers(tmp_path) == []
    return text


def test_duplicate_image_rows_are_refused_with_their_lines(tmp_path):
    """Item 4: the same image twice could land in train and in test (leakage); refused, not deduplicated."""
    src = _labels(tmp_path / "mine", ["image,smiling,hat", "photos/a.jpg,1,0", "photos/b.jpg,0,1",
                                      "./photos/a.jpg,1,0", "photos/c.jpg,1,1", "photos/b.jpg,0,0"])
    text = _refused(tmp_path, src, "2 duplicate image row")
    assert "'photos/a.jpg' (lines 2 and 4)" in text and "'photos/b.jpg' (lines 3 and 6)" in text
    assert "delete the repeated rows" in text


def test_attribute_column_without_any_known_label_is_refused(tmp_path):
    """Item 5: a column of empty cells was accepted and scored as 0 % accuracy."""
    src = _labels(tmp_path / "mine", ["image,smiling,hat,glasses", "photos/a.jpg,1,,0", "photos/b.jpg,0,,1"])
    text = _refused(tmp_path, src, r"column\(s\) 'hat' have no known label")
    assert "fill in 0/1 labels" in text and "delete the column" in text


@pytest.mark.parametrize("image", ["../outside.png", "/etc/hostname", "../../../../etc/hostname",
                                   "photos/../../outside.png", "photos/../.."])
def test_image_paths_leaving_the_folder_are_refused_before_any_file_is_opened(tmp_path, image, monkeypatch):
    """Item 6: '../../../../etc/hostname' was opened for the decode check."""
    (tmp_path / "outside.png").write_bytes(b"secret")
    src = _labels(tmp_path / "mine", ["image,smiling", "photos/a.jpg,1", f"{image},0"])
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k))
    text = _refused(tmp_path, src, f"line 3: image path '{re.escape(image)}' leaves the folder")
    assert "move or link the image into it" in text
    assert opened == []  # not even the good image: the label file is checked first


def test_prepared_labels_pointing_outside_are_refused_by_the_loader(tmp_path):
    src = tmp_path / "mine"
    make_csv(src)
    out = prepare("csv", src, tmp_path / "out")
    df = pd.read_csv(out / "labels.csv")
    df.loc[0, "image"] = "../../../../etc/hostname"
    df.to_csv(out / "labels.csv", index=False)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    meta["labels_sha256"] = sha256_file(out / "labels.csv")  # as a hand edit that knows the checksum would
    (out / "meta.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(UserError, match=r"labels.csv: row 2: image path '../../../../etc/hostname' leaves the dataset"):
        load_prepared(out)


def test_labels_csv_with_a_byte_order_mark_works(tmp_path):
    """Item 7: Excel's 'CSV UTF-8' starts with a BOM; it was "no 'image' column (header: \\ufeffimage...)"."""
    src = _labels(tmp_path / "mine", ["image,smiling,hat", "photos/a.jpg,1,0", "photos/b.jpg,0,1",
                                      "photos/c.jpg,1,1"], bom=True)
    out = prepare("csv", src, tmp_path / "out")
    assert load_prepared(out).attributes == ["smiling", "hat"]


def test_latin1_labels_csv_is_one_line_naming_the_file_and_the_fix(tmp_path, capsys):
    src = _labels(tmp_path / "mine", ["image,smiling,lunettes_portées", "photos/a.jpg,1,0", "photos/b.jpg,0,1"],
                  encoding="latin-1")
    text = _refused(tmp_path, src, r"labels.csv: not UTF-8 text \(byte 0xe9 at offset 27\); re-save it as UTF-8")
    assert "iconv -f latin1 -t utf-8 labels.csv" in text
    rc = main(["prepare", "csv", "--source", str(src), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err and "not UTF-8 text" in err


# ---- item 11: --out and --source overlap ----
@pytest.mark.parametrize("where", ["same", "out_inside_source", "source_inside_out"])
def test_overlapping_source_and_out_are_refused(tmp_path, where, capsys):
    if where == "source_inside_out":
        src, out = tmp_path / "ds" / "raw", tmp_path / "ds"
    else:
        src = tmp_path / "mine"
        out = src if where == "same" else src / "prepared"
    make_csv(src)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rc = main(["prepare", "csv", "--source", str(src), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert f"--source {src} and --out {out} overlap" in err and "e.g. --out results/datasets/<name>" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written or moved


# ---- item 13: tar entries refused by the safety filter ----
@pytest.mark.parametrize("entry, why", [("../evil.txt", "path leaves the extraction folder"),
                                        ("c/tty", "device, FIFO or other special file"),
                                        ("link", "link pointing outside the extraction folder")])
def test_refused_tar_entry_is_named_with_the_reason(tmp_path, entry, why):
    src = tmp_path / "c"
    make_csv(src)
    archive = tmp_path / "c.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(src, arcname="c")
        info = tarfile.TarInfo(entry if entry != "link" else "c/link")
        if entry == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "../../../../etc"
        elif entry == "c/tty":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 5, 0
        else:
            info.size = 4
        t.addfile(info, io.BytesIO(b"evil") if info.size else None)
    with pytest.raises(UserError) as e:
        prepare("csv", archive, tmp_path / "out")
    text = str(e.value)
    assert text.startswith(f"{archive}: refused to extract entry '") and f"({why})" in text, text
    assert "truncated or corrupt" not in text and "\n" not in text
    assert _leftovers(tmp_path) == [] and not (tmp_path / "evil.txt").exists()


# ---- item 5 (metrics): an attribute with no known label is not scored as 0 % ----
def test_metrics_leave_out_an_attribute_without_known_labels():
    """Three attributes, all known ones predicted right, the third unknown everywhere: 100, not 66.67."""
    labels = np.array([[1, 0, -1], [0, 1, -1], [1, 1, -1]], dtype=np.int8)
    probs = np.where(labels == 1, 0.9, 0.1)
    out = M.compute_metrics(probs, labels, ["a", "b", "c"], {"g": ["a", "c"], "only_c": ["c"]})
    assert out["mA"] == pytest.approx(100.0)  # was (100 + 100 + 0) / 3 = 66.67
    assert out["per_attribute_accuracy"] == {"a": 100.0, "b": 100.0}
    assert out["group_accuracy"] == {"g": 100.0}  # was 50; a group with nothing scored is left out
    assert out["error"] == 0.0
    # a wrong prediction on a scored attribute still counts: a: 2/3 right, TPR 1/2, TNR 1 -> mA of a = 75
    probs[0, 0] = 0.1
    out = M.compute_metrics(probs, labels, ["a", "b", "c"])
    assert out["mA"] == pytest.approx((75 + 100) / 2)
    assert out["per_attribute_accuracy"]["a"] == pytest.approx(200 / 3)
    assert np.isnan(M.mean_accuracy(np.zeros((2, 2)), np.full((2, 2), -1)))  # nothing to score


# ---- item 12: a download URL's token never reaches a log, meta.yaml or MLflow ----
SECRET = "s3cr3t-T0KEN"


@pytest.fixture
def zip_server(tmp_path):
    """A real HTTP server serving make_csv's folder as a zip at any path (query strings ignored)."""
    import shutil
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    make_csv(tmp_path / "served" / "mine")
    payload = Path(shutil.make_archive(str(tmp_path / "mine"), "zip", tmp_path / "served", "mine")).read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def test_download_url_token_is_redacted_everywhere(zip_server, tmp_path, capsys, monkeypatch):
    from l2l.config import resolve
    from l2l.engine import train

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    url = f"http://{zip_server}/files/mine.zip?token={SECRET}&expires=1#{SECRET}"
    shown = f"http://{zip_server}/files/mine.zip?<redacted>#<redacted>"
    work = tmp_path / "work"
    archive = work / "downloads" / "mine.zip"
    assert main(["download", "--url", url, "--out", str(archive)]) == 0
    # urllib cannot send user:password@ itself, but the URL recorded may carry them
    recorded = f"https://user:{SECRET}@{zip_server}/files/mine.zip?sig={SECRET}"
    assert main(["prepare", "csv", "--source", str(archive), "--out", str(work / "prepared"),
                 "--source-url", recorded]) == 0
    logs = capsys.readouterr()
    meta = yaml.safe_load((work / "prepared" / "meta.yaml").read_text())
    assert meta["source"]["url"] == f"https://<redacted>@{zip_server}/files/mine.zip?<redacted>"
    assert f"downloaded {shown}" in logs.out
    cfg = resolve({"method": "fc_head", "model": {"ffn_dim": 16}, "train": {"epochs": 1, "batch_size": 4},
                   "data": {"path": str(work / "prepared"), "image_size": [16, 16]},
                   "tracking": {"uri": f"sqlite:///{work}/mlflow.db", "experiment": "redact"}})
    lines = []
    train(cfg, work / "run", log=lines.append)
    from l2l.tracking import list_runs

    (run,) = list_runs(f"sqlite:///{work}/mlflow.db", "redact")
    assert run.data.tags["source_url"] == meta["source"]["url"]  # the tag is there, redacted
    assert meta["source"]["url"] in (work / "mlflow.db").read_bytes().decode("latin-1")  # the scan sees tags
    everything = logs.out + logs.err + "\n".join(lines) + _all_text(work)
    assert SECRET not in everything and "user:" not in everything


def test_every_preparer_refuses_list_paths_leaving_the_source(tmp_path, monkeypatch):
    """The same guard for the paper's formats (here an LFWA list): checked before any image is opened."""
    from realformats import make_lfwa

    make_lfwa(tmp_path / "l")
    lines = (tmp_path / "l" / "train.txt").read_text().splitlines()
    lines[1] = " ".join(["../../../../../etc/hostname", *lines[1].split()[1:]])
    (tmp_path / "l" / "train.txt").write_text("\n".join(lines) + "\n")
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(str(fp)) or real_open(fp, *a, **k))
    with pytest.raises(UserError, match=r"image path 'source/lfw/../../../../../etc/hostname' in the label file "
                                        r"leaves the source folder") as info:
        prepare("lfwa", tmp_path / "l", tmp_path / "out")
    assert str(tmp_path / "l") in str(info.value) and opened == [] and _leftovers(tmp_path) == []


def test_snakemake_never_prints_a_download_url_token(tmp_path):
    """Issue 13 item 12, the workflow side: the URL reaches `l2l download` / `l2l prepare` in a file, so
    neither the printed shell commands nor Snakemake's log show its query string."""
    import subprocess
    import sys

    import yaml

    repo = Path(__file__).resolve().parents[1]
    secret = "s3cr3t-T0KEN"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"datasets": {"mine": {
        "source": "csv", "url": f"https://example.org/data/mine.zip?token={secret}"}}}))
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory",
                          str(tmp_path), "--configfile", str(config), "-n", "-p", "results/datasets/mine/meta.yaml"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "l2l download --url-file" in res.stdout and "--source-url-file" in res.stdout
    logs = "".join(p.read_text() for p in (tmp_path / ".snakemake" / "log").glob("*.log"))
    assert secret not in res.stdout + res.stderr + logs
