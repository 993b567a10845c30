"""Give back the memory of ended gateway sessions (issue 15 §2).

A closed connection leaves a reference cycle behind: the Cancelled exceptions that end
its tasks hold tracebacks, whose frames hold the connection (hypercorn's stream and
wsproto buffers, quart's websocket context, our session). Reference counting cannot
free a cycle; only a full collection can, and the objects are old (they lived as long
as the connection), so they sit in the oldest generation, which CPython collects
rarely — and never while the server is idle, since nothing is allocated then. Cycles of
2,000 sessions grew the daemon by ~200 MB per cycle that way.

:class:`Reclaimer` counts ended sessions; once ``threshold`` have ended it waits for the
burst to finish (``quiet`` seconds without another end, at most ``max_delay`` after the
first), runs one full ``gc.collect()`` and then asks glibc to return freed pages to the
OS (``malloc_trim``; skipped where it does not exist). One collection per burst of
closes, not per session; a lone session ending now and then is left to the normal
collector.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

import trio

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[], None] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class Reclaimer:
    """Full collection + malloc_trim after bursts of ended sessions."""

    def __init__(self, threshold: int = 50, quiet: float = 1.0, max_delay: float = 10.0) -> None:
        self.threshold, self.quiet, self.max_delay = threshold, quiet, max_delay
        self._ended = 0
        self._last_end = 0.0
        self._due = trio.Event()
        self._trim = _malloc_trim()
        self.collections = 0
        self.last_pause_ms = 0.0

    def ended(self) -> None:
        """One gateway session ended (called by the hub)."""
        self._ended += 1
        self._last_end = trio.current_time()
        if self._ended >= self.threshold:
            self._due.set()

    def reclaim(self) -> None:
        """One full collection and trim now; records the pause."""
        start = time.perf_counter()
        self._ended = 0
        found = gc.collect()
        if self._trim is not None:
            self._trim()
        self.collections += 1
        self.last_pause_ms = (time.perf_counter() - start) * 1000
        log.debug("reclaimed %d objects of ended gateway sessions in %.1f ms", found, self.last_pause_ms)

    async def run(self) -> None:
        """Forever: wait for a burst of ends, let it finish, reclaim (a daemon task)."""
        while True:
            await self._due.wait()
            self._due = trio.Event()
            first = trio.current_time()
            while True:
                wake = min(self._last_end + self.quiet, first + self.max_delay)
                await trio.sleep_until(wake)
                now = trio.current_time()
                if now >= first + self.max_delay or now >= self._last_end + self.quiet:
                    break
            self.reclaim()
