"""16-bit images are scaled to 8 bits, not clipped white; float images are refused with one line
(issue 23, item 4; l2l/data/images.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from l2l.data.images import check_image, read_image
from l2l.errors import UserError


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
