"""Hostile and careless inputs (issue 13, items 3-7, 11-13, 15): each is reproduced, then refused with
one line naming the file or key and the fix, and nothing half-written is left behind."""

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from bombs import bomb_png
from PIL import Image

from l2l.data.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, read_image
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
    for doc in ("README.md", "environment.yml"):
        text = (REPO / doc).read_text()
        assert "3.10" not in text, doc
    assert f"Python ≥ {floor}" in (REPO / "README.md").read_text()
    assert f"python={floor}" in (REPO / "environment.yml").read_text()
