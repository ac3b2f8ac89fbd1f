"""Progress for long loops: a tqdm bar on a terminal, a few plain log lines in a log file.

Snakemake redirects every job's stderr to its log file; a tqdm bar there turns into
thousands of carriage-return updates. So the bar is drawn only when stderr is a
terminal, and otherwise :func:`progress` writes at most ``log_every`` evenly spaced
lines (count, rate, elapsed), which is what a person reading the log needs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def stderr_is_tty() -> bool:
    """True when a person is watching stderr (not a Snakemake/SLURM log file or a pipe)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
             bar: bool | None = None, log: Callable[[str], None] | None = None, log_every: int = 4,
             leave: bool = True) -> Iterator[T]:
    """Iterate ``iterable`` with a tqdm bar (``bar`` None: only on a terminal), else log milestones.

    Without a bar, ``log`` (if given) receives a line at every 1/``log_every`` of ``total``;
    with neither a bar nor ``log`` the loop is silent.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if bar is None:
        bar = stderr_is_tty()
    if bar:
        from tqdm import tqdm

        yield from tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True)
        return
    if log is None or not total or log_every < 1:
        yield from iterable
        return
    marks = {max(1, round(total * k / log_every)) for k in range(1, log_every + 1)}
    t0 = time.time()
    for i, item in enumerate(iterable, 1):
        yield item
        if i in marks:
            dt = time.time() - t0
            log(f"{desc}: {i}/{total} {unit} ({100 * i / total:.0f}%, {i / max(dt, 1e-9):.0f} {unit}/s, {dt:.1f}s)")
