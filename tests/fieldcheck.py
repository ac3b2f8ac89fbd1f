"""Shared checks of the field's preparers (tests/test_prepare_{peta,rap,celeba,zeroshot}.py): a prepared
folder read back as {image: (split, [1 / 0 / None])}, to compare with l2l.data.field_standins.expected."""

import csv
from pathlib import Path

from l2l.data import load_prepared


def prepared(out: Path) -> tuple[list[str], dict[str, tuple[str, list[int | None]]]]:
    """(attribute names in labels.csv's order, {image: (split, cells)}); the folder must also pass the loader."""
    load_prepared(out)
    with open(out / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0][2:], {r[0]: (r[1], [None if c == "" else int(c) for c in r[2:]]) for r in rows[1:]}


def quiet(_: str) -> None:
    pass
