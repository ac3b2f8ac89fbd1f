"""Download one file: resumable (HTTP Range), sha256-checked, atomic, with a progress bar or log lines.

Bytes go to ``<dest>.part``; an interrupted download keeps it and the next call asks the server
for the rest (``Range: bytes=N-``). A server that ignores Range gets a fresh download. Only a
complete file whose sha256 matches (when one is given) is renamed to ``dest``.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from l2l.data.format import sha256_file
from l2l.errors import UserError

CHUNK = 1 << 16
REDACTED = "<redacted>"


def redact_url(url: str) -> str:
    """``url`` with its user:password, query and fragment replaced by ``<redacted>``.

    Signed or tokenised download links carry their secret there; logs, meta.yaml and MLflow tags
    (which may be shared) record only scheme, host and path.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port:
        host += f":{parts.port}"
    if parts.username is not None or parts.password is not None:
        host = f"{REDACTED}@{host}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, REDACTED if parts.query else "",
                                    REDACTED if parts.fragment else ""))


class _Progress:
    """tqdm on a terminal; otherwise a log line every 10 % (or every 50 MB when the size is unknown)."""

    def __init__(self, total: int | None, start: int, name: str, log: Callable[[str], None]) -> None:
        self.total, self.done, self.name, self.log = total, start, name, log
        self.bar = None
        self.next_log = self._step()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=name)

    def _step(self) -> int:
        step = max(self.total // 10, 1) if self.total else 50 << 20
        return (self.done // step + 1) * step

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.done >= self.next_log:
            pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            self.log(f"{self.name}: {self.done / 1e6:.1f} MB{pct}")
            self.next_log = self._step()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fetch(url: str, part: Path, timeout: float, log: Callable[[str], None]) -> tuple[int | None, int]:
    """One HTTP request continuing ``part``; returns (expected total size or None, bytes at start)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "l2l-downloader"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to send, or a stale part file: start over
            part.unlink()
            return _fetch(url, part, timeout, log)
        raise
    with resp:
        length = resp.headers.get("Content-Length")
        if offset and resp.status == 206:
            log(f"resuming {part.name} at byte {offset}")
            mode = "ab"
        else:
            if offset:
                log(f"server ignored the Range request; downloading {redact_url(url)} from the start")
            offset, mode = 0, "wb"
        total = offset + int(length) if length is not None else None
        progress = _Progress(total, offset, part.name.removesuffix(".part"), log)
        try:
            with open(part, mode) as f:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    progress.update(len(chunk))
        finally:
            progress.close()
    return total, offset


def download(url: str, dest: str | Path, sha256: str | None = None, retries: int = 3, timeout: float = 60.0,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fetch ``url`` to ``dest`` (resuming a ``.part``), verify ``sha256``; returns what meta.yaml records.

    Every message and the returned record name the URL redacted (:func:`redact_url`).
    """
    shown = redact_url(url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    error: Exception | None = None
    resumed_from = part.stat().st_size if part.exists() else 0
    for attempt in range(retries + 1):
        try:
            total, _ = _fetch(url, part, timeout, log)
        except urllib.error.HTTPError as e:
            raise UserError(f"{shown}: HTTP {e.code} {e.reason}; check datasets.<name>.url or use manual mode "
                            f"(datasets.<name>.path)") from e
        except (OSError, http.client.HTTPException) as e:  # URLError, reset, timeout, IncompleteRead
            error = e
            log(f"download interrupted ({e}); {part} keeps {part.stat().st_size if part.exists() else 0} bytes"
                + (f", retrying ({attempt + 1}/{retries})" if attempt < retries else ""))
            continue
        size = part.stat().st_size
        if total is not None and size != total:
            error = OSError(f"connection closed at {size} of {total} bytes")
            log(f"download incomplete ({error})" + (f", retrying ({attempt + 1}/{retries})" if attempt < retries else ""))
            continue
        break
    else:
        raise UserError(f"{dest}: download of {shown} did not complete ({error}); the partial file {part} is kept, "
                        f"run again to resume")
    digest = sha256_file(part)
    if sha256 and digest.lower() != sha256.lower():
        part.unlink()
        raise UserError(f"{dest}: sha256 {digest} does not match the configured {sha256}; the file was deleted. "
                        f"Check datasets.<name>.sha256 (or the URL) and run again")
    os.replace(part, dest)
    log(f"downloaded {shown} → {dest} ({dest.stat().st_size} bytes, sha256 {digest}"
        + (", verified)" if sha256 else ", not verified: no sha256 configured)"))
    return {"url": shown, "file": str(dest), "bytes": dest.stat().st_size, "sha256": digest,
            "sha256_verified": bool(sha256), "resumed_from": resumed_from}
