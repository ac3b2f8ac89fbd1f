"""The downloader against a real HTTP server on 127.0.0.1 that honours Range (and one that does not); archive
extraction refusing unsafe tar entries; a download URL's token never reaching a log, meta.yaml or MLflow."""

import hashlib
import io
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from helpers import REPO, leftovers
from realformats import make_csv

from l2l.cli import main
from l2l.data.prepare import prepare
from helpers import list_runs
from l2l.data.prepare.download import download
from l2l.errors import UserError

PAYLOAD = bytes(range(256)) * 4000  # 1 MB


class Handler(BaseHTTPRequestHandler):
    ranges = True  # honour Range requests
    cut_after: int | None = None  # first full response: close the connection after this many bytes
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        cls = type(self)
        rng = self.headers.get("Range")
        cls.requests.append(rng)
        if self.path != "/data.zip":
            self.send_error(404)
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng and cls.ranges else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes" if cls.ranges else "none")
        self.end_headers()
        if cls.cut_after is not None:
            body, cls.cut_after = body[: cls.cut_after], None
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    handler = type("H", (Handler,), {"requests": [], "ranges": True, "cut_after": None})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_complete_download_with_checksum(server, tmp_path):
    handler, base = server
    info = download(f"{base}/data.zip", tmp_path / "data.zip", sha256=SHA, log=lambda m: None)
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD
    assert info["sha256"] == SHA and info["sha256_verified"] and info["bytes"] == len(PAYLOAD)
    assert not (tmp_path / "data.zip.part").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path):
    handler, base = server
    handler.cut_after = 300_000
    dest = tmp_path / "data.zip"
    with pytest.raises(UserError, match=r"data.zip: download of .* did not complete.*run again to resume"):
        download(f"{base}/data.zip", dest, retries=0, log=lambda m: None)
    assert not dest.exists() and (tmp_path / "data.zip.part").stat().st_size == 300_000
    logs = []
    info = download(f"{base}/data.zip", dest, sha256=SHA, retries=0, log=logs.append)
    assert dest.read_bytes() == PAYLOAD and info["resumed_from"] == 300_000
    assert handler.requests == [None, "bytes=300000-"]
    assert any("resuming data.zip.part at byte 300000" in m for m in logs)


def test_retry_within_one_call(server, tmp_path):
    handler, base = server
    handler.cut_after = 123_456
    download(f"{base}/data.zip", tmp_path / "d.zip", sha256=SHA, retries=2, log=lambda m: None)
    assert (tmp_path / "d.zip").read_bytes() == PAYLOAD
    assert handler.requests == [None, "bytes=123456-"]


def test_server_without_range_restarts_from_zero(server, tmp_path):
    handler, base = server
    handler.ranges = False
    (tmp_path / "d.zip.part").write_bytes(PAYLOAD[:5000])
    download(f"{base}/data.zip", tmp_path / "d.zip", sha256=SHA, log=lambda m: None)
    assert (tmp_path / "d.zip").read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_file(server, tmp_path):
    _, base = server
    with pytest.raises(UserError, match=r"d.zip: sha256 [0-9a-f]{64} does not match the configured 00ff"):
        download(f"{base}/data.zip", tmp_path / "d.zip", sha256="00ff" * 16, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_clear(server, tmp_path):
    _, base = server
    with pytest.raises(UserError, match="HTTP 404"):
        download(f"{base}/missing.zip", tmp_path / "m.zip", log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


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
    assert leftovers(tmp_path) == [] and not (tmp_path / "evil.txt").exists()



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
    (run,) = list_runs(f"sqlite:///{work}/mlflow.db", "redact")
    assert run.data.tags["source_url"] == meta["source"]["url"]  # the tag is there, redacted
    assert meta["source"]["url"] in (work / "mlflow.db").read_bytes().decode("latin-1")  # the scan sees tags
    everything = logs.out + logs.err + "\n".join(lines) + _all_text(work)
    assert SECRET not in everything and "user:" not in everything


def test_snakemake_never_prints_a_download_url_token(tmp_path):
    """Issue 13 item 12, the workflow side: the URL reaches `l2l download` / `l2l prepare` in a file, so
    neither the printed shell commands nor Snakemake's log show its query string."""
    repo = REPO
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
