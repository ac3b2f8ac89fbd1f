"""The downloader against a real HTTP server on 127.0.0.1 that honours Range (and one that does not)."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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
