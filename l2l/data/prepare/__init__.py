"""Preparers: each turns a dataset as its publisher distributes it into the prepared format.

``prepare(kind, source, out, seed=..., **options)`` is what ``l2l prepare`` and the Snakemake
prepare rule call. It writes into a staging folder and renames it to ``out`` only when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from l2l.data.prepare import celeba, clothing, custom_csv, lfwa, pa100k, peta, rap, zeroshot
from l2l.data.prepare.common import SOURCE_DIR, staging
from l2l.data.prepare.download import redact_url
from l2l.errors import UserError

MODULES = {"lfwa": lfwa, "pa100k": pa100k, "clothing": clothing, "csv": custom_csv,
           # the field's benchmarks (issue 25): pedestrian sets as Rethinking_of_PAR reads them, and CelebA
           "peta": peta, "rapv1": rap.RAPV1, "rapv2": rap.RAPV2, "petazs": zeroshot.PETAZS, "rapzs": zeroshot.RAPZS,
           "celeba": celeba}
KINDS = tuple(MODULES)
# options only the field's preparers read (l2l.data.prepare.pedestrian); elsewhere they would be silently ignored
FIELD_OPTIONS = {"attributes": ("peta", "rapv1", "rapv2", "petazs", "rapzs", "celeba"),
                 "partition": ("peta", "rapv1", "rapv2", "petazs", "rapzs", "celeba"),
                 "uncertain": ("peta", "rapv1", "rapv2", "petazs", "rapzs")}


def contents(kind: str) -> str:
    """What the source folder (or archive) must contain, for --help and errors."""
    return MODULES[kind].CONTENTS


def prepare(kind: str, source: str | Path, out: str | Path, seed: int = 0, log: Callable[[str], None] = print,
            extra_source: dict[str, Any] | None = None, **options: Any) -> Path:
    """Prepare dataset ``kind`` from ``source`` into ``out`` (atomically); returns ``out``."""
    if kind not in MODULES:
        raise UserError(f"unknown dataset kind '{kind}'; choose one of {', '.join(KINDS)}")
    options = {k: v for k, v in options.items() if v is not None}
    wrong = [k for k, kinds in FIELD_OPTIONS.items() if k in options and kind not in kinds]
    if wrong:
        raise UserError(f"--{wrong[0]} does not apply to {kind}; it is an option of "
                        f"{', '.join(FIELD_OPTIONS[wrong[0]])} only: leave it out")
    refuse_overlap(source, out)
    if extra_source and extra_source.get("url"):
        extra_source = {**extra_source, "url": redact_url(extra_source["url"])}  # meta.yaml → MLflow tag
    with staging(out) as stage:
        try:
            MODULES[kind].prepare(source, stage, seed=seed, log=log, **options)
        except UserError as e:  # name the user's files, not the staging copy that is about to vanish
            raise UserError(str(e).replace(str(stage / SOURCE_DIR), str(Path(source).absolute()))) from e
        if extra_source or "name" in options:
            _update_meta(stage, extra_source or {}, options.get("name"))
    log(f"{kind} prepared from {source} into {out}")
    return Path(out)


def refuse_overlap(source: str | Path, out: str | Path) -> None:
    """``out`` is replaced as a whole: it must not be, contain, or lie inside the source."""
    src, dst = Path(source).resolve(), Path(out).resolve()
    how = ("are the same folder" if src == dst else "--out is inside --source" if dst.is_relative_to(src)
           else "--source is inside --out" if src.is_relative_to(dst) else None)
    if how:
        raise UserError(f"--source {source} and --out {out} overlap ({how}); the prepared folder replaces --out "
                        f"and links to the source, so write it elsewhere, e.g. --out results/datasets/<name>")


def _update_meta(stage: Path, extra: dict[str, Any], name: str | None) -> None:
    """Record download facts (url) under meta.yaml's source, and the dataset's configured name."""
    from l2l.io import read_yaml, write_yaml

    meta = read_yaml(stage / "meta.yaml")
    meta["source"] = {**meta.get("source", {}), **extra}
    if name:
        meta["name"] = name
    write_yaml(stage / "meta.yaml", meta)
