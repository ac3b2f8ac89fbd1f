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
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

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
                return im.convert("RGB")
            im.load()
            return im
    except _TooLarge as e:
        raise UserError(f"{path}: image too large to decode ({e}); shrink it (e.g. to at most 8192 x 8192), "
                        f"remove it, or raise the limit with {MAX_PIXELS_ENV}=<pixels>") from e
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, EOFError... for bad files
        raise UserError(f"{path}: image cannot be decoded ({type(e).__name__}: {e}); replace or remove it "
                        f"(re-download the dataset, or fix the label file) and re-run prepare") from e


def read_image(path: str | Path) -> Image.Image:
    """Decode to RGB or raise a UserError naming the file (a bad image must not kill a run late)."""
    return open_image(path, decode=True)


def check_image(path: str | Path) -> None:
    """Decode ``path`` fully and discard it: what ``l2l prepare --check-images decode`` does per image."""
    open_image(path, decode=False).close()
