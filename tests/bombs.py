"""Crafted hostile inputs for the hardening tests (issue 13): decompression-bomb PNGs."""

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int, height: int, full: bool = False) -> Path:
    """A valid RGB PNG declaring ``width`` x ``height`` black pixels.

    ``full``: the whole pixel stream (zeros compress ~1000:1, so 9000² is a 250 kB file that decodes to
    243 MB); otherwise only the first row, which is all a reader that checks the header ever touches.
    """
    z = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    body = b"".join(z.compress(row) for _ in range(height if full else 1)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    return path
