"""UUIDv7 ids and their matching timestamps (API.md §1.3, DESIGN.md "Ids and times").

Only the storage writer thread calls :meth:`IdClock.next`, so ids strictly increase in
commit order and ``created_at`` never decreases along them.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time

from .clock import format_us

_UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def is_uuid(value: str) -> bool:
    """True for the hyphenated 8-4-4-4-12 hex form, any letter case, any version."""
    return bool(_UUID_RE.match(value))


def normalize_uuid(value: str) -> str | None:
    """Lower-cased id, or None when ``value`` is not a well-formed UUID string."""
    return value.lower() if isinstance(value, str) and _UUID_RE.match(value) else None


class IdClock:
    """A UUIDv7 generator with a 12-bit sequence counter and a clamped clock.

    ``next()`` returns ``(id, created_at)``: time is ``max(now, last)`` in microseconds, the
    id's 48-bit millisecond field comes from it, and ``rand_a`` holds a counter that
    increases within one millisecond (on overflow the clock is pushed 1 ms forward).
    """

    def __init__(self) -> None:
        self._last_us = 0
        self._last_ms = -1
        self._counter = 0
        self._lock = threading.Lock()
        # Ids are not secrets (the time and counter make them unique), so a seeded PRNG
        # serves the random bits without two getrandom() syscalls per id.
        self._random = random.Random(os.urandom(16))

    def next(self) -> tuple[str, str]:
        with self._lock:
            now = time.time_ns() // 1000
            if now < self._last_us:
                now = self._last_us
            ms = now // 1000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:
                    ms += 1
                    self._counter = 0
                    now = max(now, ms * 1000)
            else:
                self._counter = self._random.getrandbits(10)  # leave headroom
            self._last_ms = ms
            self._last_us = now
            rand_b = self._random.getrandbits(62)
            value = (ms << 80) | (0x7 << 76) | (self._counter << 64) | (0b10 << 62) | rand_b
            h = f"{value:032x}"
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", format_us(now)
