"""Storage health: a full disk or an outside lock becomes an answer, not a traceback (issue 15 §4).

* :func:`refusal` maps a SQLite error to the ApiError a client gets: ``SQLITE_FULL`` (and an
  I/O error on a filesystem with no space left) is ``507 insufficient_storage``;
  ``SQLITE_BUSY`` / ``SQLITE_LOCKED`` after the busy timeout (``database.busy_timeout_ms``) is
  ``503 database_busy``. Both carry ``Retry-After`` (whole seconds) and ``retry_after``.
  Nothing was written: the job's savepoint (or the whole transaction) was rolled back.
* :class:`StorageHealth` remembers the current problem for ``GET /health`` (``degraded`` with
  the reason) and logs one line per problem per ``LOG_INTERVAL_SECONDS``, counting the writes
  refused in between; the next successful commit clears it (recovery is automatic).

Only the trio thread calls into StorageHealth (storage/db.py hands results over there).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ApiError

log = logging.getLogger("together_server.storage")

LOG_INTERVAL_SECONDS = 60.0
RETRY_FULL_SECONDS = 30
RETRY_BUSY_SECONDS = 2
LOW_SPACE_BYTES = 1 << 20  # an I/O error with less than this free counts as a full disk

_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def free_bytes(path: Path) -> int | None:
    """Bytes available to us on the filesystem holding ``path`` (None if it cannot be told)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def kind_of(exc: BaseException, data_dir: Path | None = None) -> str | None:
    """``"full"``, ``"busy"`` or None (not a storage condition: a bug, left as a 500)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "full"
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        return "full"
    if primary in _BUSY:
        return "busy"
    if primary == sqlite3.SQLITE_IOERR and data_dir is not None:
        free = free_bytes(data_dir)
        if free is not None and free < LOW_SPACE_BYTES:
            return "full"
    return None


def refusal(kind: str) -> ApiError:
    """The answer for a write refused by storage ``kind`` ("full" | "busy")."""
    if kind == "full":
        return ApiError(
            "insufficient_storage",
            "The server's disk is full: nothing was saved. Try again later (the server recovers "
            "by itself once space is freed).",
            extra={"retry_after": float(RETRY_FULL_SECONDS)},
            headers={"Retry-After": str(RETRY_FULL_SECONDS)},
        )
    return ApiError(
        "database_busy",
        "The database is locked by another program: nothing was saved. Try again shortly.",
        extra={"retry_after": float(RETRY_BUSY_SECONDS)},
        headers={"Retry-After": str(RETRY_BUSY_SECONDS)},
    )


_REASONS = {
    "full": ("insufficient_storage", "the disk holding {path} is full"),
    "busy": ("database_busy", "{path} is locked by another program beyond the busy timeout"),
}


class StorageHealth:
    """The current storage problem of one database file, and its rate-limited log lines."""

    def __init__(self, db_path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.db_path = db_path
        self._clock = clock
        self.problem: str | None = None  # "full" | "busy"
        self.detail = ""
        self._logged_at: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def refused(self, kind: str, exc: BaseException, what: str = "write") -> ApiError:
        """Record a ``what`` refused by ``kind``; log at most one line per interval; the answer."""
        self.problem = kind
        self.detail = str(exc)
        now = self._clock()
        last = self._logged_at.get(kind)
        if last is not None and now - last < LOG_INTERVAL_SECONDS:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        else:
            more = self._suppressed.pop(kind, 0)
            free = free_bytes(self.db_path.parent)
            log.error(
                "%ss refused: %s (%s bytes free there; SQLite: %s); they answer %s until it clears%s",
                what, _REASONS[kind][1].format(path=self.db_path), "unknown" if free is None else free,
                exc, "507" if kind == "full" else "503", f"; {more} more refused since the last line" if more else "",
            )
            self._logged_at[kind] = now
        return refusal(kind)

    def ok(self) -> None:
        """A transaction committed: storage works (again)."""
        if self.problem is not None:
            log.warning("database writes work again (after: %s)", _REASONS[self.problem][0])
            self.problem = None
            self.detail = ""
            self._logged_at.clear()
            self._suppressed.clear()

    def report(self) -> tuple[str, str] | None:
        """None when healthy, else ``(reason code, sentence)`` for GET /health."""
        if self.problem is None:
            return None
        code, text = _REASONS[self.problem]
        sentence = text.format(path=self.db_path.name)
        return code, f"{sentence[0].upper()}{sentence[1:]}: writes are refused"


STORAGE_CODES = frozenset({"insufficient_storage", "database_busy"})


def is_refusal(exc: BaseException) -> bool:
    """True for the ApiError of a storage refusal (already logged by StorageHealth)."""
    return isinstance(exc, ApiError) and exc.code in STORAGE_CODES
