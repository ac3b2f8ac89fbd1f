"""The official LFWA RandAugment: each operation against PIL (what the official code calls), the
magnitude scale, the draw, determinism under a seed."""

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageEnhance
import PIL.ImageOps
import pytest
import torch

from l2l.data.official_augment import (OPERATIONS, auto_contrast, brightness, contrast, cutout, equalize,
                                       magnitude_value, official_randaugment, rotate, sharpness, shear_x, shear_y,
                                       translate_x, translate_y)


def _image(h: int = 60, w: int = 50) -> torch.Tensor:
    """A smooth random image in [40, 210] (so autocontrast and equalize have work to do)."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 12, 10, generator=g)
    smooth = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear")[0]
    return (40 + smooth * 170).to(torch.uint8)


def _pil(img: torch.Tensor) -> PIL.Image.Image:
    return PIL.Image.fromarray(img.permute(1, 2, 0).numpy())


def _tensor(pil: PIL.Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(pil)).permute(2, 0, 1)


def _sign(g: torch.Generator) -> float:
    """The sign the next coin of ``g`` gives an op, without consuming it."""
    probe = torch.Generator()
    probe.set_state(g.get_state())
    return -1.0 if torch.rand(1, generator=probe).item() > 0.5 else 1.0


M = 13  # the official LFWA magnitude
VALUES = {name: magnitude_value(M, lo, hi) for name, (_, lo, hi) in
          zip(["ac", "eq", "rot", "con", "bri", "sha", "shx", "shy", "cut", "tx", "ty"], OPERATIONS)}


def test_magnitudes_at_m13():
    assert VALUES["rot"] == pytest.approx(13.0)
    assert VALUES["con"] == VALUES["bri"] == VALUES["sha"] == pytest.approx(0.88)
    assert VALUES["shx"] == pytest.approx(0.13) and VALUES["cut"] == pytest.approx(52 / 3)
    assert VALUES["tx"] == pytest.approx(130 / 3)
    assert len(OPERATIONS) == 11


@pytest.mark.parametrize("op,reference", [
    (auto_contrast, lambda p, v, s: PIL.ImageOps.autocontrast(p)),
    (equalize, lambda p, v, s: PIL.ImageOps.equalize(p)),
    (contrast, lambda p, v, s: PIL.ImageEnhance.Contrast(p).enhance(v)),
    (brightness, lambda p, v, s: PIL.ImageEnhance.Brightness(p).enhance(v)),
    (sharpness, lambda p, v, s: PIL.ImageEnhance.Sharpness(p).enhance(v)),
    (rotate, lambda p, v, s: p.rotate(s * v)),
    (shear_x, lambda p, v, s: p.transform(p.size, PIL.Image.AFFINE, (1, s * v, 0, 0, 1, 0))),
    (shear_y, lambda p, v, s: p.transform(p.size, PIL.Image.AFFINE, (1, 0, 0, s * v, 1, 0))),
    (translate_x, lambda p, v, s: p.transform(p.size, PIL.Image.AFFINE, (1, 0, s * v, 0, 1, 0))),
    (translate_y, lambda p, v, s: p.transform(p.size, PIL.Image.AFFINE, (1, 0, 0, 0, 1, s * v))),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_operation_matches_pil(op, reference, seed):
    img = _image()
    lo, hi = next((lo, hi) for o, lo, hi in OPERATIONS if o is op)
    value = magnitude_value(M, lo, hi)
    g = torch.Generator().manual_seed(seed)
    sign = _sign(g)
    ours = op(img, value, g)
    expect = _tensor(reference(_pil(img), value, sign))
    assert ours.dtype == torch.uint8 and ours.shape == img.shape
    assert (ours.int() - expect.int()).abs().max() <= 1  # ±1: PIL rounds the grey mean of Contrast
    assert not torch.equal(ours, img)  # and the operation does change the image


def test_cutout_is_the_official_grey_square():
    img = _image()
    g = torch.Generator().manual_seed(3)
    probe = torch.Generator()
    probe.set_state(g.get_state())
    cx, cy = (torch.rand(2, generator=probe) * torch.tensor([50, 60])).tolist()
    ours = cutout(img, VALUES["cut"], g)
    pil = _pil(img)
    x0, y0 = int(max(0, cx - VALUES["cut"] / 2)), int(max(0, cy - VALUES["cut"] / 2))
    x1, y1 = min(50, x0 + VALUES["cut"]), min(60, y0 + VALUES["cut"])
    PIL.ImageDraw.Draw(pil).rectangle((x0, y0, x1, y1), (125, 123, 114))
    assert torch.equal(ours, _tensor(pil))
    grey = (ours == torch.tensor([125, 123, 114], dtype=torch.uint8)[:, None, None]).all(0)
    assert 17 * 17 <= grey.sum() <= 18 * 18 or x0 == 0 or y0 == 0 or x1 >= 49 or y1 >= 59


def test_randaugment_shape_dtype_and_determinism():
    img = _image()
    aug = official_randaugment(2, 13)
    torch.manual_seed(4)
    a = aug(img)
    torch.manual_seed(4)
    b = aug(img)
    assert a.dtype == torch.uint8 and a.shape == img.shape and torch.equal(a, b)
    outs = [aug(img) for _ in range(8)]
    assert any(not torch.equal(o, a) for o in outs)  # a different draw after the seed
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(official_randaugment(2, 13, g1)(img), official_randaugment(2, 13, g2)(img))
    assert torch.equal(official_randaugment(0, 13)(img), img)


def test_randaugment_draws_n_ops_with_replacement_from_all_eleven(monkeypatch):
    import l2l.data.official_augment as oa
    seen = []
    patched = [(lambda img, v, g, i=i: (seen.append(i), img)[1], lo, hi) for i, (_, lo, hi) in enumerate(OPERATIONS)]
    monkeypatch.setattr(oa, "OPERATIONS", patched)
    torch.manual_seed(0)
    aug = official_randaugment(2, 13)
    for _ in range(200):
        aug(_image(8, 8))
    assert len(seen) == 400 and set(seen) == set(range(11))
    pairs = list(zip(seen[::2], seen[1::2]))
    assert any(a == b for a, b in pairs)  # with replacement, as random.choices


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="uint8 3×H×W"):
        official_randaugment(2, 13)(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="0 <= m <= 30"):
        official_randaugment(2, 31)


def test_rotate_is_pil_rotate_exactly():
    """The official Rotate is PIL's ``img.rotate(v)`` (augmentations.py): counter-clockwise about the centre,
    nearest neighbour, black corners; on a noisy face-sized image every pixel equals PIL's (torchvision's
    rotation differed at 0.16 % of them, by up to 250 grey levels)."""
    square = torch.arange(1, 10, dtype=torch.uint8).reshape(1, 3, 3).repeat(3, 1, 1)  # rows 1 2 3 / 4 5 6 / 7 8 9
    g = torch.Generator().manual_seed(0)
    sign = _sign(g)
    turned = rotate(square, 90.0, g)[0]
    by_hand = {1.0: [[3, 6, 9], [2, 5, 8], [1, 4, 7]], -1.0: [[7, 4, 1], [8, 5, 2], [9, 6, 3]]}  # ccw / cw
    assert turned.tolist() == by_hand[sign]
    noisy = torch.randint(0, 256, (3, 250, 250), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    for seed in (0, 1):
        g = torch.Generator().manual_seed(seed)
        sign = _sign(g)
        assert torch.equal(rotate(noisy, VALUES["rot"], g), _tensor(_pil(noisy).rotate(sign * VALUES["rot"])))
