"""l2l.data.prepare.celeba on stand-in releases in both layouts (flat; Google Drive's Anno/ Eval/ Img/)."""

import pytest
import yaml
from fieldcheck import prepared, quiet

from l2l.data import field_standins as F
from l2l.data.prepare import prepare
from l2l.errors import UserError


@pytest.mark.parametrize("layout", ["flat", "drive"])
def test_celeba_cell_by_cell(tmp_path, layout):
    info = F.make_celeba(tmp_path / "celeba", layout=layout, seed=4)
    out = prepare("celeba", tmp_path / "celeba", tmp_path / "out", log=quiet)
    names, rows = prepared(out)
    assert names == F.CELEBA_ATTRIBUTES
    assert rows == F.expected(info)
    assert all(k.startswith("source/Img/img_align_celeba/" if layout == "drive" else "source/img_align_celeba/")
               for k in rows)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["splits"] == {"train": 12, "val": 4, "test": 8}
    assert meta["source"]["split_sizes"]["official"] == {"train": 162770, "val": 19867, "test": 19962}
    _, same = prepared(prepare("celeba", tmp_path / "celeba", tmp_path / "out_all", attributes="all", log=quiet))
    assert same == rows  # all 40 are evaluated: eval = all


def test_celeba_malformed_releases_fail_naming_the_file_and_the_fix(tmp_path):
    src = tmp_path / "c"
    F.make_celeba(src, layout="drive", sizes=(3, 2, 2))
    with pytest.raises(UserError, match=r"--partition 1 does not exist; the release has partitions 0..0"):
        prepare("celeba", src, tmp_path / "out", partition=1)
    attr = src / "Anno" / "list_attr_celeba.txt"
    lines = attr.read_text().splitlines()
    attr.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(UserError, match=r"list_attr_celeba.txt: line 1 says 7 images but 6 follow"):
        prepare("celeba", src, tmp_path / "out")
    attr.write_text("\n".join(lines[:4] + [lines[4].replace(" 1", " 0", 1)] + lines[5:]) + "\n")
    with pytest.raises(UserError, match=r"list_attr_celeba.txt: line 5 is not 'image' then 40 values 1 / -1"):
        prepare("celeba", src, tmp_path / "out")
    attr.write_text("\n".join(lines[:5] + [lines[5].rsplit(" ", 1)[0]] + lines[6:]) + "\n")
    with pytest.raises(UserError, match=r"list_attr_celeba.txt: line 6 is not 'image' then 40 values 1 / -1"):
        prepare("celeba", src, tmp_path / "out")
    attr.write_text("\n".join(lines[:5] + [lines[5] + " 1"] + lines[6:]) + "\n")
    with pytest.raises(UserError, match=r"list_attr_celeba.txt: a line has more than 'image' and 40 values"):
        prepare("celeba", src, tmp_path / "out")
    attr.write_text("\n".join(lines) + "\n")
    part = src / "Eval" / "list_eval_partition.txt"
    part.write_text("".join(part.read_text().splitlines(True)[:-1]))
    with pytest.raises(UserError, match=r"list_eval_partition.txt: no split for 000007.jpg \(1 images"):
        prepare("celeba", src, tmp_path / "out")
    F.make_celeba(src, layout="drive", sizes=(3, 2, 2))
    (src / "Img" / "img_align_celeba").rename(src / "Img" / "elsewhere")
    (src / "Img" / "img_align_celeba.zip").write_bytes(b"PK\x03\x04")
    with pytest.raises(UserError, match=r"img_align_celeba.zip is not unpacked; unzip it in place"):
        prepare("celeba", src, tmp_path / "out")
    (src / "Anno" / "list_attr_celeba.txt").unlink()
    with pytest.raises(UserError, match=r"(?s)list_attr_celeba.txt \(or Anno/list_attr_celeba.txt\) not found"
                                        r".*mmlab.ie.cuhk.edu.hk/projects/CelebA.html"):
        prepare("celeba", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
