"""Job log lines with timestamps.

Every rule's log is the stdout/stderr of one ``l2l`` command; a timestamp on each line tells how long
an epoch, a download or a decode check took and lines up a job's log with the scheduler's.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S%z"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of the record (a test may have replaced it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def job_logger(command: str) -> Callable[[str], None]:
    """A ``log(msg)`` callable for ``l2l <command>``: one timestamped line on stdout, flushed at once."""
    logger = logging.getLogger(f"l2l.{command}")
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    return logger.info  # StreamHandler flushes after every record
