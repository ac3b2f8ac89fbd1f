"""Read the zero-shot split files (Rethinking_of_PAR's ``dataset_zs_run0.pkl``) without trusting them.

Those files are pickles downloaded from the internet, and a pickle can name any importable callable
(``os.system``...) for the loader to call. :func:`load` admits only what the files hold: an
``easydict.EasyDict`` (read as :class:`EasyDict`, our own ``dict`` subclass: easydict is not a dependency),
numpy arrays, dtypes and scalars, and plain builtin values (``range`` included: ``label_idx.extra`` is
one). Any other global is refused, naming it and the file, before it is imported or called.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import copyreg
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from l2l.errors import UserError


class EasyDict(dict):
    """Stands in for ``easydict.EasyDict``: a dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # never a key: pickle looks up __setstate__ and friends here
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


def _numpy(module: str, name: str) -> Any:
    """numpy's pickle helpers (ndarray and scalar rebuilders; _frombuffer from protocol 5) from numpy.core.* in
    numpy 1.x, numpy._core.* in numpy 2: whichever spelling the file has, this numpy's own function."""
    import importlib

    leaf = module.rsplit(".", 1)[1]
    for core in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{core}.{leaf}"), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"this numpy has no {module}.{name}")


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it for bytes (numpy's raw data): latin-1 text only."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode called with ({type(text).__name__}, {encoding!r})")
    return codecs.encode(text, "latin1")


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` as protocols 0/1 use it for a dict subclass: only for EasyDict."""
    if cls is not EasyDict or base not in (dict, object):
        raise pickle.UnpicklingError(f"copyreg._reconstructor called for {cls!r} on {base!r}")
    return copyreg._reconstructor(cls, base, state)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("easydict", "EasyDict"): EasyDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
    ("copyreg", "_reconstructor"): _reconstructor,
    **{("builtins", n): getattr(__import__("builtins"), n)
       for n in ("dict", "list", "tuple", "set", "frozenset", "range", "slice", "complex", "bytearray", "object")},
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
}
_NUMPY_HELPERS = {(f"numpy.{core}.{m}", n) for core in ("core", "_core")  # numpy 1.x / 2.x spellings
                  for m, n in (("multiarray", "_reconstruct"), ("multiarray", "scalar"), ("numeric", "_frombuffer"))}
WHAT = "an EasyDict, numpy arrays / dtypes / scalars and builtin values"


class _Restricted(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (protocols 0-2: __builtin__.xrange...) as pickle's own find_class maps them, then the list
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _NUMPY_HELPERS:
            return _numpy(module, name)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.startswith("numpy") and name.endswith("DType"):  # numpy >= 2: dtype classes (numpy.dtypes.*)
            import numpy.dtypes

            if module == "numpy.dtypes" and isinstance(getattr(numpy.dtypes, name, None), type):
                return getattr(numpy.dtypes, name)
        raise _Refused(f"{self.source}: refused to unpickle type {module}.{name}: a zero-shot split file holds only "
                       f"{WHAT}; this file is not the one Rethinking_of_PAR distributes (get dataset_zs_run0.pkl again "
                       f"from github.com/valencebond/Rethinking_of_PAR, data/PETA or data/RAP2)")

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"{self.source}: refused a persistent id in the pickle ({type(pid).__name__}); a zero-shot "
                       f"split file holds only {WHAT}")


class _Refused(pickle.UnpicklingError):
    pass


def loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` admitting only :data:`WHAT`; ``source`` names the file in errors."""
    try:
        return _Restricted(io.BytesIO(data), source).load()
    except _Refused as e:
        raise UserError(str(e)) from None
    except Exception as e:  # truncated, corrupt, or an allowed callable given bad arguments
        raise UserError(f"{source}: cannot be read as a zero-shot split pickle ({type(e).__name__}: {e}); get the "
                        f"file again from github.com/valencebond/Rethinking_of_PAR") from e


def load(path: str | Path) -> Any:
    """Unpickle the file at ``path`` with the restrictions of :func:`loads`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror})") from e
    return loads(data, str(path))
