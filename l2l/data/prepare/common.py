"""Shared steps of every preparer: open the source (folder or archive), stage the output, check images.

A preparer reads the source as its publisher distributes it and writes the prepared format
(l2l.data.format) into a *staging* folder beside ``out``; only a complete, checked folder is
renamed to ``out``, so a failed or killed prepare leaves nothing half-written behind.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from l2l.data.format import escapes_folder, sha256_file
from l2l.data.images import check_image
from l2l.errors import UserError
from l2l.progress import progress

MARKER = ".l2l_prepared"  # written into every prepared folder: only such a folder may be replaced
SOURCE_DIR = "source"  # inside the prepared folder: the extracted archive, or a link to the source folder
_MAGIC = {b"PK\x03\x04": "zip", b"\x1f\x8b": "tar", b"BZh": "tar", b"\xfd7zXZ": "tar"}


def archive_kind(path: Path) -> str | None:
    """'zip' or 'tar' from the file's first bytes (not its name: downloads are often renamed)."""
    with open(path, "rb") as f:
        head = f.read(512)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return "tar" if head[257:262] == b"ustar" else None


def extract(archive: Path, dest: Path) -> None:
    """Extract a zip or tar(.gz/.bz2/.xz); a truncated or corrupt archive is a UserError naming it."""
    kind = archive_kind(archive)
    if kind is None:
        raise UserError(f"{archive}: not a zip or tar archive (and not a folder); point the source at the "
                        f"folder or at the archive as distributed")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as z:
                bad = z.testzip()
                if bad is not None:
                    raise zipfile.BadZipFile(f"CRC error in member {bad}")
                z.extractall(dest)
        else:
            with tarfile.open(archive) as t:
                t.extractall(dest, filter="data")
    except tarfile.FilterError as e:  # a well-formed archive with an entry we will not write: say which
        raise UserError(f"{archive}: refused to extract entry '{e.tarinfo.name}' ({_refusal(e)}); a dataset archive "
                        f"never needs one: get the archive from the official source, or extract it yourself, "
                        f"check it, and point the source at the folder") from e
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise UserError(f"{archive}: truncated or corrupt {kind} archive ({e}); download it again "
                        f"(delete the file first if it was downloaded by the pipeline)") from e


def _refusal(e: tarfile.FilterError) -> str:
    """Why tarfile's ``data`` filter refused an entry, in words."""
    reasons = {tarfile.AbsolutePathError: "absolute path",
               tarfile.OutsideDestinationError: "path leaves the extraction folder",
               tarfile.SpecialFileError: "device, FIFO or other special file",
               tarfile.AbsoluteLinkError: "link to an absolute path",
               tarfile.LinkOutsideDestinationError: "link pointing outside the extraction folder"}
    return next((why for kind, why in reasons.items() if isinstance(e, kind)), str(e))


def single_root(folder: Path) -> Path:
    """An archive holding one top-level folder (and maybe macOS junk) is read from inside that folder."""
    entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def find_first(root: Path, names: Sequence[str], max_depth: int = 2) -> Path | None:
    """The first of ``names`` (relative paths) under ``root`` or up to ``max_depth`` folders below it."""
    frontier = [root]
    for _ in range(max_depth + 1):
        for base in frontier:
            for name in names:
                if (base / name).exists():
                    return base / name
        frontier = [d for base in frontier for d in sorted(base.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    return None


@contextmanager
def staging(out: str | Path, replaceable: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; on success it replaces ``out``, on failure it is deleted.

    ``out`` is replaced only when it is empty, holds :data:`MARKER`, or ``replaceable(out)`` says so.
    """
    out = Path(out).absolute()
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MARKER).exists()
                                               or (replaceable is not None and replaceable(out)))):
        raise UserError(f"{out} exists and is not a prepared dataset; choose another --out or delete it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the dataset folder should not be
    try:
        yield tmp
        (tmp / MARKER).write_text("written by l2l prepare; this folder may be replaced by it\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # does not follow the source link


def open_source(source: str | Path, stage: Path, instructions: str) -> tuple[Path, dict]:
    """Make ``stage/source`` hold the data: a link to a folder, or an archive extracted there.

    Returns the folder to read (inside ``stage``) and what meta.yaml records about the source.
    """
    source = Path(source)
    if not source.exists():
        raise UserError(f"{source} does not exist.\n{instructions}")
    target = stage / SOURCE_DIR
    info: dict = {"path": str(source.absolute())}
    if source.is_dir():
        os.symlink(source.absolute(), target, target_is_directory=True)
        return target, info
    info["archive_sha256"] = sha256_file(source)
    extract(source, target)
    return single_root(target), info


def require(path: Path | None, what: str, source: Path, instructions: str) -> Path:
    """Fail with what is missing, what was found, and the instructions, when ``path`` is None/absent."""
    if path is not None and path.exists():
        return path
    found = sorted(p.name for p in source.iterdir())[:20] if source.is_dir() else []
    raise UserError(f"{source}: {what} not found (found: {', '.join(found) or 'nothing'}).\n{instructions}")


def check_images(root: Path, images: Sequence[str], decode: bool = True, log=print) -> None:
    """Every listed image exists (and decodes fully, with ``decode``), or a UserError names the first bad one.

    Paths that leave the source folder (absolute, ``..``) are refused first, before any file is touched.
    """
    outside = [p for p in images if escapes_folder(p) or not posixpath.normpath(p).startswith(SOURCE_DIR + "/")]
    if outside:
        raise UserError(f"{root / SOURCE_DIR}: image path '{outside[0]}' in the label file leaves the source folder "
                        f"({len(outside)} such path(s)); image paths must be relative and inside the folder, "
                        f"without '..': fix the label file")
    missing = [p for p in images if not (root / p).is_file()]
    if missing:
        raise UserError(f"{root / missing[0]}: image listed in the labels is missing ({len(missing)} of "
                        f"{len(images)} missing); restore the images or fix the label file")
    if not decode:
        return
    log(f"decoding {len(images)} images to check them")
    for rel in progress(images, desc="decode images", unit="img", log=log):
        check_image(root / rel)  # the loader's own policy: pixel limit, one-line error naming the file


def read_mat(path: Path) -> dict:
    """The variables of a MATLAB v5/v7 file (scipy's loadmat); a v7.3, unreadable or wrong file is a UserError
    naming it."""
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except NotImplementedError as e:
        raise UserError(f"{path}: MATLAB v7.3 (HDF5) file; save it as v7 (`save -v7`) or use the file of the "
                        f"original release") from e
    except Exception as e:
        raise UserError(f"{path}: cannot be read as a MATLAB file ({e}); copy it again from the release") from e


def carve_split(splits: np.ndarray, source: str, target: str, fraction: float, seed: int) -> np.ndarray:
    """Move a seeded ``fraction`` of the ``source`` split to ``target`` (e.g. a val split from train)."""
    splits = np.asarray(splits).astype(object)
    idx = np.flatnonzero(splits == source)
    n = int(round(fraction * len(idx)))
    if n:
        chosen = np.random.default_rng(seed).choice(idx, size=n, replace=False)
        splits[chosen] = target
    return splits.astype(str)


def report_counts(actual: dict[str, int], official: dict[str, int], log=print) -> dict:
    """Split sizes next to the official ones (a mismatch is reported, not fatal: fixtures and subsets)."""
    lines = [f"{k}: {actual[k]} (official {official[k]})" for k in official]
    match = all(actual[k] == official[k] for k in official)
    log("split sizes " + ("match the official ones: " if match else "DIFFER from the official ones: ") + ", ".join(lines))
    return {"actual": dict(actual), "official": dict(official), "match_official": match}


def file_hashes(paths: Sequence[Path], root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in paths}
