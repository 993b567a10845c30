"""Choosing the rate-limit bucket of a request and applying it (API.md §5, §1.1).

Used by the HTTP pipeline (``app.py``) and by the gateway's ``/ws`` upgrade, so both
count a request against exactly one bucket: ``auth`` for its routes, ``bot`` for a valid
bot credential, ``user`` for a valid human one, ``ip`` for the rest.
"""

from __future__ import annotations

from ..auth.request import Caller
from ..errors import ApiError
from ..netaddr import parse_trusted
from ..ratelimit import BUCKET_NAMES, BucketConfig, Limiters, client_ip, ip_key
from ..state import AppState

Headers = list[tuple[str, str]]


def build_limiters(st: AppState) -> None:
    """Create ``st.limiters`` and ``st.trusted_proxies`` from the config."""
    rl = st.config.ratelimit
    st.limiters = Limiters.from_config(
        {n: BucketConfig(getattr(rl, n).capacity, getattr(rl, n).refill_per_second) for n in BUCKET_NAMES},
        enabled=rl.enabled,
    )
    st.trusted_proxies = parse_trusted(st.config.server.trusted_proxies)


def peer_ip(st: AppState, peer: str | None, forwarded_for: list[str]) -> str:
    """The client IP of §1.1 (X-Forwarded-For believed only from trusted proxies)."""
    xff = ", ".join(forwarded_for) if forwarded_for else None
    return client_ip(peer or "", xff, st.trusted_proxies)


def check(st: AppState, *, auth_route: bool, who: Caller | ApiError, ip: str) -> tuple[Headers, ApiError | None]:
    """Take one token; returns the headers for the answer and the 429 to raise, if any."""
    if st.limiters is None:
        return [], None
    if auth_route:
        bucket, key = "auth", ip_key(ip)
    elif isinstance(who, Caller):
        bucket, key = ("bot" if who.is_bot else "user"), who.user_id
    else:
        bucket, key = "ip", ip_key(ip)
    decision = st.limiters.take(bucket, key)
    if decision is None:
        return [], None
    headers = decision.headers()
    if decision.allowed:
        return headers, None
    return headers, ApiError("rate_limited", extra={"retry_after": decision.retry_after})
