"""l2l/data/images.py: decompression bombs are refused from the header, before any pixel is decoded, with one
line naming the file, the limit and how to raise it; a preparer that meets one leaves nothing behind. 16-bit images
are scaled to 8 bits, not clipped white; float images are refused with one line (issue 23, item 4)."""

import re
import subprocess
import sys

import numpy as np
import pytest
from bombs import bomb_png
from helpers import leftovers
from PIL import Image
from realformats import make_csv

from l2l.data.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, check_image, read_image
from l2l.data.prepare import prepare
from l2l.errors import UserError


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



def test_prepare_refuses_a_bomb_when_decoding_and_leaves_nothing(tmp_path):
    src = tmp_path / "mine"
    make_csv(src)
    bomb_png(src / "photos" / "b.jpg", 30000, 30000)  # any name: PIL reads the header, not the suffix
    with pytest.raises(UserError, match=r"photos/b.jpg: image too large to decode \(") as info:
        prepare("csv", src, tmp_path / "out")
    assert str(src) in str(info.value) and "\n" not in str(info.value)
    assert leftovers(tmp_path) == []
    prepare("csv", src, tmp_path / "out", check_decode=False)  # --check-images exists: found at training
    assert (tmp_path / "out" / "meta.yaml").is_file()



def test_a_full_range_16bit_png_keeps_its_tones(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    rgb = np.asarray(read_image(tmp_path / "g16.png"))
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert (rgb == 255).mean() < 0.01  # clipped, 99.6 % were 255
    expected = np.round(ramp.astype(np.float64) * 255 / 65535)
    assert np.abs(rgb[..., 0].astype(int) - expected).max() <= 1
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_32bit_integer_grey_is_scaled_and_out_of_range_refused(tmp_path):
    Image.fromarray(np.full((8, 8), 65535, np.int32)).save(tmp_path / "i.tiff")
    assert (np.asarray(read_image(tmp_path / "i.tiff")) == 255).all()
    Image.fromarray(np.full((8, 8), 70000, np.int32)).save(tmp_path / "big.tiff")
    with pytest.raises(UserError, match=r"big\.tiff: image format not supported .*outside 0\.\.65535.*convert it"):
        read_image(tmp_path / "big.tiff")


def test_float_images_are_refused_with_one_line(tmp_path):
    Image.fromarray(np.ones((8, 8), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(UserError, match=r"f\.tiff: image format not supported \(floating-point"):
        read_image(tmp_path / "f.tiff")
    with pytest.raises(UserError, match="floating-point"):  # refused at prepare (--check-images decode) already
        check_image(tmp_path / "f.tiff")
