"""Atomic file writes: a killed job never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from l2l.errors import UserError


class OutputWriteError(UserError):
    """An output could not be written (disk full, quota, read-only or permission denied).

    Raised by :func:`atomic_write` after the temp file is removed, so the previous
    version of the output (if any) is intact and nothing half-written is left.
    """


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file beside ``path``, then rename it into place.

    The rename is atomic on POSIX file systems, so readers (and Snakemake) see
    either the old file or the complete new one. An ``OSError`` (ENOSPC, EDQUOT,
    EROFS, EACCES, ...) becomes an :class:`OutputWriteError` naming ``path``.
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp_path, path)
    except BaseException as e:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OutputWriteError(
                f"{path}: cannot write ({e.strerror or e}); free space or fix permissions in {path.parent}, "
                f"then re-run (the previous file, if any, is intact)") from e
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_yaml(path: str | os.PathLike, data: Any) -> Path:
    return write_text(path, yaml.safe_dump(data, sort_keys=False))


def read_yaml(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return yaml.safe_load(f)


@contextlib.contextmanager
def file_set(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder inside ``out_dir``; when the block succeeds, move its files into ``out_dir``.

    For writers of a *set* of files (a table's csv, md, html and plots): every byte is written before
    the first file is replaced, and the moves are renames, which need no disk space. A full disk or an
    error while writing leaves the whole previous set; the staging folder is removed either way.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".set.", suffix=".partial", dir=out_dir))
    try:
        yield stage
        for p in sorted(stage.iterdir()):
            os.replace(p, out_dir / p.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def read_mapping(path: str | os.PathLike, what: str = "a config file") -> dict[str, Any]:
    """A YAML file that must hold a mapping (a config): one-line UserError naming the file otherwise.

    An empty file is an empty mapping; an unreadable one raises its OSError (the CLI prints it as one line)."""
    try:
        data = read_yaml(path) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({' '.join(str(e).split())}); fix the file") from e
    if not isinstance(data, dict):
        raise UserError(f"{path}: {what} must be a mapping of keys")
    return data
