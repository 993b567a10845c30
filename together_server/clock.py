"""RFC 3339 UTC timestamps with exactly six fractional digits (API.md §1.3)."""

from __future__ import annotations

import datetime as _dt
import time

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_us(epoch_us: int) -> str:
    """Epoch microseconds -> ``2026-03-14T10:30:00.123456Z`` (the one formatter)."""
    seconds, micros = divmod(epoch_us, 1_000_000)
    base = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return base.replace(microsecond=micros).strftime(_FORMAT)


def now_us() -> int:
    """The current wall-clock time as integer microseconds since the Unix epoch (not monotonic)."""
    return time.time_ns() // 1000


def now_ts() -> str:
    """The current time as an API timestamp (not monotonic; writers use ``ids.IdClock``)."""
    return format_us(now_us())


def ts_after_seconds(seconds: float) -> str:
    """The API timestamp (RFC 3339, §1.3) ``seconds`` (float, may be fractional) from now."""
    return format_us(now_us() + int(seconds * 1_000_000))


def parse_ts(ts: str) -> _dt.datetime:
    """An API timestamp (``...T..:..:..123456Z``, exactly 6 fraction digits) -> aware UTC datetime; ValueError otherwise."""
    return _dt.datetime.strptime(ts, _FORMAT).replace(tzinfo=_dt.UTC)
