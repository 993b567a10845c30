"""Token-bucket rate limiting and client-IP resolution (API.md §5, §1.1, §9 ``ratelimit.*``).

Pure: no I/O, no framework imports. Time comes from an injected ``clock`` (Unix seconds as a
float, ``time.time`` by default), so tests drive it with a fake clock.

How the HTTP layer uses it (the middleware and ``route_bucket`` live elsewhere)::

    trusted = parse_trusted(config.server.trusted_proxies)      # ValueError -> refuse to start
    rl = config.ratelimit                                       # config.RateLimitConfig
    limiters = Limiters.from_config(
        {n: BucketConfig(getattr(rl, n).capacity, getattr(rl, n).refill_per_second)
         for n in BUCKET_NAMES},
        enabled=rl.enabled,
    )

    # per request (not for GET /health or CORS preflights, §5):
    ip = client_ip(peer_host, forwarded_for, trusted)   # forwarded_for: every X-Forwarded-For
                                                        # header joined with ", ", or None
    bucket, key = ...  # "auth" -> ip_key(ip); "bot" -> bot user id; "user" -> user id;
                       # "ip" -> ip_key(ip)
    decision = limiters.take(bucket, key)               # None when ratelimit.enabled = false
    if decision is not None and not decision.allowed:
        -> 429 rate_limited, body "retry_after": decision.retry_after, headers decision.headers()
    ... run the handler ...
    if decision is not None:
        add decision.headers() to the response, whatever its status (§5)

    # in the daemon's nursery, every few seconds:
    limiters.prune()      # drops buckets that have refilled completely; returns how many

Bucket state is one float per key: the time at which that bucket will be full again (the
"theoretical arrival time" of GCRA). Tokens at time ``t`` are
``capacity - max(0, full_at - t) * refill_per_second``, so taking a token adds
``1 / refill_per_second`` to ``full_at`` and a bucket whose ``full_at`` has passed is
indistinguishable from an absent one, which is why it can be dropped (DESIGN.md "Limiter
state"). Keys live in an ordered dict by last successful take; every bucket is full at most
``capacity / refill_per_second`` seconds after that take, so sweeping the front of the dict
until the first not-yet-full bucket leaves only buckets touched within one refill window.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import attrs

from .netaddr import IPAddress, IPNetwork

BUCKET_NAMES: Final = ("auth", "user", "bot", "ip")

# Times closer than this (seconds) are treated as equal. Unix timestamps near 2^31 carry
# ~2.4e-7 s of float rounding, so without a tolerance a token due "exactly now" can be
# refused, or a Reset computed as 1700000003.0000002 can round up a whole second.
_TIME_EPS: Final = 1e-6

# Per take() call, how many front entries the lazy sweep may drop: more than the one entry
# a call can add, so stale buckets drain under any traffic even without prune().
_LAZY_PRUNE_PER_TAKE: Final = 2


def _check_capacity(_inst: object, _attr: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"capacity: must be an integer ≥ 1, got {value!r}")


def _check_refill(_inst: object, _attr: object, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"refill_per_second: must be a finite number > 0, got {value!r}"
        )


@attrs.frozen
class BucketConfig:
    """One bucket's settings (§9 ``ratelimit.<bucket>.capacity`` / ``.refill_per_second``).

    ``capacity``: burst size in tokens, an int ≥ 1. ``refill_per_second``: tokens added per
    second, a finite number > 0. Raises ``ValueError`` otherwise.
    """

    capacity: int = attrs.field(validator=_check_capacity)
    refill_per_second: float = attrs.field(validator=_check_refill)


# §9 defaults.
DEFAULT_BUCKETS: Final[Mapping[str, BucketConfig]] = {
    "auth": BucketConfig(5, 2.0),
    "user": BucketConfig(600, 100.0),
    "bot": BucketConfig(50, 50.0),
    "ip": BucketConfig(20, 10.0),
}


@attrs.frozen
class Decision:
    """The outcome of one ``RateLimiter.take`` (§5).

    - ``allowed``: False means answer 429 ``rate_limited``; no token was taken.
    - ``limit``: the bucket's capacity.
    - ``remaining``: whole tokens left after this request, 0 ≤ remaining < limit.
    - ``reset_at``: Unix time in whole seconds, rounded up, when the bucket is full again.
    - ``retry_after``: only when refused: seconds until ONE token is back, a float rounded
      up to the millisecond (≥ 0.001); ``None`` when allowed.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_at: int
    retry_after: float | None = None

    def headers(self) -> list[tuple[str, str]]:
        """The §5 response headers as ``(name, value)`` pairs.

        ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` always;
        ``Retry-After`` (whole seconds, rounded up, ≥ 1) only when refused.
        """
        out = [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(self.remaining)),
            ("X-RateLimit-Reset", str(self.reset_at)),
        ]
        if self.retry_after is not None:
            # retry_after is a whole number of milliseconds / 1000; round() recovers it exactly.
            ms = round(self.retry_after * 1000)
            out.append(("Retry-After", str(max(1, -(-ms // 1000)))))
        return out


class RateLimiter:
    """Token buckets of one configuration, keyed by an opaque string (§5).

    ``take(key)`` spends one token or refuses without spending; ``prune(now)`` drops buckets
    that have refilled completely. Memory is one ordered-dict entry (key + one float) per
    bucket that is not full. Not thread-safe; meant for one trio thread.
    """

    __slots__ = (
        "_allow_debt",
        "_capacity",
        "_clock",
        "_epoch",
        "_full_at",
        "_interval",
        "_rate",
        "_window",
        "config",
    )

    def __init__(
        self, config: BucketConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self._clock = clock
        # full_at values are stored relative to this instant: small floats keep sub-µs precision.
        self._epoch = clock()
        self._capacity = config.capacity
        self._rate = float(config.refill_per_second)
        self._interval = 1.0 / self._rate  # seconds one token takes to come back
        self._window = config.capacity / self._rate  # seconds from empty to full
        # A request is allowed while the bucket is at most this many seconds from full,
        # i.e. while at least one whole token is left (with the float tolerance).
        self._allow_debt = (config.capacity - 1) / self._rate + _TIME_EPS
        self._full_at: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """Number of buckets held (those not known to be full)."""
        return len(self._full_at)

    def take(self, key: str) -> Decision:
        """Spend one token from ``key``'s bucket if one is left; see ``Decision``."""
        now = self._clock()
        t = now - self._epoch
        buckets = self._full_at
        full_at = buckets.get(key)
        if full_at is None:
            debt = 0.0  # seconds until the bucket is full
        else:
            debt = full_at - t
            if debt < 0.0:
                debt = 0.0
            elif debt > self._window:
                # Only possible if the wall clock stepped back: never punish more than
                # one refill window for it.
                debt = self._window
        if debt <= self._allow_debt:
            debt += self._interval
            buckets[key] = t + debt
            buckets.move_to_end(key)
            # Whole tokens left; the tolerance absorbs float noise (e.g. 14.999999999 -> 15).
            remaining = int(self._capacity - (debt - _TIME_EPS) * self._rate)
            if remaining < 0:
                remaining = 0
            elif remaining >= self._capacity:
                remaining = self._capacity - 1
            retry_after = None
        else:
            remaining = 0
            # One token is back when debt has fallen to _allow_debt; that wait (minus the
            # tolerance already in _allow_debt) rounded up to the millisecond, ≥ 1 ms.
            retry_after = max(1, math.ceil((debt - self._allow_debt) * 1000)) / 1000
        # Amortized O(1) lazy sweep of buckets that are full again.
        for _ in range(_LAZY_PRUNE_PER_TAKE):
            if not buckets:
                break
            oldest = next(iter(buckets))
            if buckets[oldest] > t + _TIME_EPS:
                break
            del buckets[oldest]
        return Decision(
            allowed=retry_after is None,
            limit=self._capacity,
            remaining=remaining,
            reset_at=math.ceil(now + debt - _TIME_EPS),
            retry_after=retry_after,
        )

    def prune(self, now: float | None = None) -> int:
        """Drop buckets that are full at ``now`` (Unix seconds; default: the clock).

        Sweeps from the least recently taken bucket and stops at the first that is not full,
        so each call costs O(dropped + 1). Afterwards every bucket left was taken from within
        the last ``capacity / refill_per_second`` seconds. Returns how many were dropped.
        """
        t = (self._clock() if now is None else now) - self._epoch + _TIME_EPS
        buckets = self._full_at
        dropped = 0
        while buckets:
            oldest = next(iter(buckets))
            if buckets[oldest] > t:
                break
            del buckets[oldest]
            dropped += 1
        return dropped


@attrs.define
class Limiters:
    """The four §5 buckets (``auth``, ``user``, ``bot``, ``ip``) and ``ratelimit.enabled``."""

    enabled: bool
    auth: RateLimiter
    user: RateLimiter
    bot: RateLimiter
    ip: RateLimiter

    @classmethod
    def from_config(
        cls,
        buckets: Mapping[str, BucketConfig] = DEFAULT_BUCKETS,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> Limiters:
        """Build from ``{"auth": BucketConfig, "user": ..., "bot": ..., "ip": ...}``.

        Raises ``ValueError`` naming the missing or unknown bucket names.
        """
        missing = [n for n in BUCKET_NAMES if n not in buckets]
        unknown = sorted(set(buckets) - set(BUCKET_NAMES))
        if missing or unknown:
            raise ValueError(
                f"ratelimit buckets: missing {missing or 'none'}, unknown {unknown or 'none'}"
                f" (expected exactly {list(BUCKET_NAMES)})"
            )
        return cls(enabled, *(RateLimiter(buckets[n], clock) for n in BUCKET_NAMES))

    def get(self, bucket: str) -> RateLimiter:
        """The limiter named ``bucket``; ``ValueError`` for a name not in ``BUCKET_NAMES``."""
        if bucket not in BUCKET_NAMES:
            raise ValueError(f"unknown rate-limit bucket {bucket!r}")
        limiter: RateLimiter = getattr(self, bucket)
        return limiter

    def take(self, bucket: str, key: str) -> Decision | None:
        """``get(bucket).take(key)``, or ``None`` when limiting is disabled (send no headers)."""
        if not self.enabled:
            return None
        return self.get(bucket).take(key)

    def prune(self, now: float | None = None) -> int:
        """Prune all four limiters; returns the total number of buckets dropped."""
        return sum(self.get(n).prune(now) for n in BUCKET_NAMES)


def _unmap(addr: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (``::ffff:a.b.c.d``) as IPv4; an IPv6 scope id dropped."""
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return mapped
        if addr.scope_id is not None:
            return ipaddress.IPv6Address(int(addr))
    return addr


# Longest textual IP we parse: a full IPv6 with an IPv4 tail is 45 characters, plus room
# for a scope id. Longer strings (e.g. a forged X-Forwarded-For element) are not IPs and
# never enter the caches below, so each cache stays under ~1 MB.
_MAX_IP_TEXT: Final = 64
# ipaddress parsing and formatting cost ~2.5 µs per address, more than take() itself; the
# same few peers and proxies recur on every request, so the parsed forms are cached.
_CACHE_SIZE: Final = 4096


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(text: str) -> tuple[IPAddress, str] | None:
    try:
        addr = _unmap(ipaddress.ip_address(text))
    except ValueError:
        return None
    return addr, str(addr)


def _parse_ip(text: str) -> tuple[IPAddress, str] | None:
    """``(address, canonical text)`` or None when ``text`` is not an IP address."""
    if len(text) > _MAX_IP_TEXT:
        return None
    return _parse_cached(text)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _ip_key_cached(ip: str) -> str:
    parsed = _parse_ip(ip)
    if parsed is None:
        return ip
    addr, text = parsed
    if isinstance(addr, ipaddress.IPv4Address):
        return text
    return f"{ipaddress.IPv6Address(int(addr) >> 64 << 64)}/64"


def ip_key(ip: str) -> str:
    """The §5 bucket key for a client IP.

    IPv4 as is (``"203.0.113.7"``); IPv4-mapped IPv6 as its IPv4; other IPv6 by its /64
    prefix (``"2001:db8:1:2::/64"``), since one subscriber usually holds a whole /64. A
    string that is not an IP address (e.g. a Unix-socket peer) is returned unchanged, so
    all such clients share one bucket; this never raises.
    """
    if len(ip) > _MAX_IP_TEXT:
        return ip
    return _ip_key_cached(ip)


def _is_trusted(addr: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    for net in trusted:
        if addr in net:
            return True
    return False


def _parse_forwarded_entry(entry: str) -> tuple[IPAddress, str] | None:
    """One ``X-Forwarded-For`` element; tolerates the ``ip:port`` / ``[v6]:port`` forms."""
    if entry.startswith("["):
        end = entry.find("]")
        return _parse_ip(entry[1:end]) if end > 0 else None
    if entry.count(":") == 1:
        entry = entry.split(":", 1)[0]
    return _parse_ip(entry)


def client_ip(
    peer: str, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The client IP of §1.1, normalized (``str`` of the address, IPv4-mapped as IPv4).

    ``peer`` is the TCP peer address; ``forwarded_for`` the ``X-Forwarded-For`` value (several
    headers joined with ``", "``) or ``None``; ``trusted`` from ``parse_trusted``.

    When the peer is not trusted, ``X-Forwarded-For`` is ignored and the peer is the client.
    Otherwise the list is walked from the right over trusted proxies, and the first address
    that is not one is the client. An element that is not an IP address stops the walk: what
    lies left of it cannot be believed, so the last trusted hop is used. If every element is
    a trusted proxy, the left-most is used. A ``peer`` that is not an IP is returned unchanged.
    Never raises.
    """
    parsed = _parse_ip(peer)
    if parsed is None:
        return peer
    if not forwarded_for or not trusted or not _is_trusted(parsed[0], trusted):
        return parsed[1]
    for raw in reversed(forwarded_for.split(",")):
        entry = raw.strip()
        if not entry:
            continue
        hop = _parse_forwarded_entry(entry)
        if hop is None:
            break
        parsed = hop
        if not _is_trusted(hop[0], trusted):
            break
    return parsed[1]
