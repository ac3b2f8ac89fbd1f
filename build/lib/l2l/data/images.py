"""The one place that opens an image file: the pixel limit and the error every caller reports.

Training (:mod:`l2l.data.loader`, :mod:`l2l.data.cache`), ``l2l predict`` and the preparers' decode
check all open images here, so a file that one of them refuses is refused by all of them.

Why a pixel limit: a PNG or JPEG declares its size in a few header bytes, and decoding allocates
width × height × 3 bytes (and the resize copies) before anything can look at the pixels. A 1 kB PNG
declaring 30000 × 30000 pixels asks for 2.7 GB; decoding (and resizing) a 12000² image took 1.4 GB more
than the process's baseline, one at the default limit 0.65 GB (ru_maxrss, Pillow 13). The header is
read first (cheap) and an image above :data:`DEFAULT_MAX_PIXELS` is refused before it is decoded.
Set ``L2L_MAX_IMAGE_PIXELS`` to change the limit (up to PIL's own hard limit, 2 × its
``Image.MAX_IMAGE_PIXELS``, about 179 million).

Why :func:`to_rgb` and not ``convert("RGB")`` alone: PIL's conversion of a 16-bit grayscale image
(mode ``I;16``, e.g. a 16-bit PNG) clips every value above 255, so a full-range image turns white
(99.6 % of the pixels of a 0-65535 ramp). 16-bit and 32-bit integer images are scaled from their
range (0-65535) to 0-255 instead; float images (mode ``F``), whose range nothing declares, are refused
with one line. 16-bit colour PNGs are already reduced to 8 bits by PIL itself.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from l2l.errors import UserError

DEFAULT_MAX_PIXELS = 8192 * 8192  # 67 Mpx: a 48 Mpx phone photo fits; decoding one at the limit takes ~0.65 GB
MAX_PIXELS_ENV = "L2L_MAX_IMAGE_PIXELS"


def max_pixels() -> int:
    """The limit in force: ``L2L_MAX_IMAGE_PIXELS`` when set, else :data:`DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    hard = 2 * (Image.MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS)
    if not raw.isdigit() or not 0 < int(raw) <= hard:
        raise UserError(f"environment variable {MAX_PIXELS_ENV}='{raw}' is not a pixel count; set it to an "
                        f"integer between 1 and {hard} (default {DEFAULT_MAX_PIXELS}) or unset it")
    return int(raw)


class _TooLarge(Exception):
    pass


class _Unsupported(Exception):
    pass


class BadImage(UserError):
    """An image that cannot be used: ``reason`` says why, ``remedy`` how (for a dataset being prepared);
    callers with another context (``l2l predict``) give their own remedy for an ``undecodable`` one."""

    def __init__(self, message: str, path: Path | None = None, kind: str = "", reason: str = "",
                 remedy: str = "") -> None:  # message first: torch's DataLoader rebuilds it from one string
        super().__init__(message)
        self.path, self.kind, self.reason, self.remedy = path, kind, reason, remedy

    @classmethod
    def of(cls, path: Path, kind: str, reason: str, remedy: str) -> "BadImage":
        return cls(f"{path}: {reason}; {remedy}", path, kind, reason, remedy)


def to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB of any PIL mode: 16/32-bit integer grey scaled from 0-65535 (not clipped at 255)."""
    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.asarray(im).astype(np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise _Unsupported(f"{im.mode} image with values {a.min()}..{a.max()} outside 0..65535")
        return Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8), "L").convert("RGB")
    if im.mode == "F":
        raise _Unsupported("floating-point image (mode F): its value range is undefined")
    return im.convert("RGB")


def _open_checked(path: Path, limit: int) -> Image.Image:
    """``Image.open`` (header only) with the size checked against ``limit`` before any decoding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit decides, not PIL's warning
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as e:  # above PIL's hard limit: the header alone says so
            raise _TooLarge(str(e)) from e
    w, h = im.size
    if w * h > limit:
        im.close()
        raise _TooLarge(f"{w} x {h} = {w * h} pixels, above the limit of {limit}")
    return im


def open_image(path: str | Path, decode: bool = True) -> Image.Image:
    """The image at ``path`` decoded to RGB (or, with ``decode=False``, fully loaded as stored).

    Any failure is one :class:`UserError` naming the file and the fix: an image above the pixel
    limit (refused before decoding), or a file PIL cannot decode (truncated, not an image).
    """
    path = Path(path)
    limit = max_pixels()
    try:
        with _open_checked(path, limit) as im:
            if decode:
                return to_rgb(im)
            im.load()
            return im
    except _Unsupported as e:
        raise BadImage.of(path, "unsupported", f"image format not supported ({e})",
                       "convert it to 8- or 16-bit PNG or JPEG (and re-run prepare for a dataset)") from e
    except _TooLarge as e:
        raise BadImage.of(path, "too_large", f"image too large to decode ({e})",
                       f"shrink it (e.g. to at most 8192 x 8192), remove it, or raise the limit with "
                       f"{MAX_PIXELS_ENV}=<pixels>") from e
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, EOFError... for bad files
        raise BadImage.of(path, "undecodable", f"image cannot be decoded ({type(e).__name__}: {e})",
                       "replace or remove it (re-download the dataset, or fix the label file) and re-run "
                       "prepare") from e


def read_image(path: str | Path) -> Image.Image:
    """Decode to RGB or raise a UserError naming the file (a bad image must not kill a run late)."""
    return open_image(path, decode=True)


def check_image(path: str | Path) -> None:
    """Decode ``path`` fully and discard it: what ``l2l prepare --check-images decode`` does per image."""
    open_image(path, decode=True).close()  # to RGB as training will: a mode it refuses is refused at prepare
