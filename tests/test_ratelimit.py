"""Tests for together_server.ratelimit (API.md §5, §1.1, FIELD-CASES.md F10), on a fake clock."""

from __future__ import annotations

import ipaddress
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_server.netaddr import parse_trusted
from together_server.ratelimit import (
    BUCKET_NAMES,
    DEFAULT_BUCKETS,
    BucketConfig,
    Decision,
    Limiters,
    RateLimiter,
    client_ip,
    ip_key,
)

# A Unix time with a fractional part, where float rounding is coarse (ulp ~2.4e-7 s).
T0 = 1_700_000_000.3


class FakeClock:
    """Unix time ``base + elapsed``; ``elapsed`` is kept apart so that many small steps do
    not pile up rounding error at Unix magnitudes (a real clock reading is rounded once)."""

    def __init__(self, base: float = T0) -> None:
        self.base = base
        self.elapsed = 0.0

    def __call__(self) -> float:
        return self.base + self.elapsed

    @property
    def now(self) -> float:
        return self.base + self.elapsed

    @now.setter
    def now(self, value: float) -> None:
        self.base, self.elapsed = value, 0.0

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


def make(capacity: int = 5, rate: float = 2.0) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(BucketConfig(capacity, rate), clock), clock


# --- BucketConfig -----------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, "5", None])
def test_bucket_config_rejects_bad_capacity(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        BucketConfig(capacity, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -1.0, math.inf, math.nan, True, "2"])
def test_bucket_config_rejects_bad_refill(rate: object) -> None:
    with pytest.raises(ValueError, match="refill_per_second"):
        BucketConfig(5, rate)  # type: ignore[arg-type]


def test_bucket_config_accepts_int_refill_and_is_frozen() -> None:
    cfg = BucketConfig(1, 3)
    assert cfg.refill_per_second == 3
    with pytest.raises(AttributeError):
        cfg.capacity = 2  # type: ignore[misc]


# --- token bucket -----------------------------------------------------------------------


def test_burst_to_capacity_then_refused() -> None:
    rl, _ = make(5, 2.0)
    decisions = [rl.take("k") for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert {d.limit for d in decisions} == {5}
    assert all(d.retry_after is None for d in decisions[:5])
    assert decisions[5].retry_after == 0.5


def test_keys_are_independent() -> None:
    rl, _ = make(2, 1.0)
    assert [rl.take("a").allowed for _ in range(3)] == [True, True, False]
    assert rl.take("b").allowed


@pytest.mark.parametrize(
    ("capacity", "rate"), [(5, 2.0), (30, 15.0), (50, 50.0), (20, 10.0), (3, 0.1)]
)
def test_refill_rate(capacity: int, rate: float) -> None:
    rl, clock = make(capacity, rate)
    for _ in range(capacity):
        assert rl.take("k").allowed
    assert not rl.take("k").allowed
    for _ in range(3 * capacity):
        # Exactly one token comes back per 1/rate seconds, no more, no less.
        clock.advance(1 / rate)
        assert rl.take("k").allowed
        assert not rl.take("k").allowed


def test_partial_refill_counts_whole_tokens() -> None:
    rl, clock = make(10, 4.0)
    for _ in range(10):
        rl.take("k")
    clock.advance(1.0)  # 4 tokens back
    assert rl.take("k").remaining == 3
    clock.advance(0.2)  # 0.8 of a token: still 3 whole tokens, one taken
    assert rl.take("k").remaining == 2


def test_tokens_never_exceed_capacity() -> None:
    rl, clock = make(3, 1.0)
    rl.take("k")
    clock.advance(1000)
    assert [rl.take("k").allowed for _ in range(4)] == [True, True, True, False]


def test_refused_request_takes_no_token() -> None:
    hammered, clock = make(5, 2.0)
    for _ in range(5):
        hammered.take("k")
    for _ in range(100):
        assert not hammered.take("k").allowed
        clock.advance(0.001)  # 0.1 s in total: not enough for a token
    clock.advance(0.4)  # 0.5 s since the bucket emptied: one token is back
    assert hammered.take("k").allowed
    assert not hammered.take("k").allowed


def test_wait_retry_after_then_allowed() -> None:
    rl, clock = make(5, 3.0)  # 1/3 s per token is not a binary fraction
    for _ in range(5):
        rl.take("k")
    refused = rl.take("k")
    assert refused.retry_after is not None
    clock.advance(refused.retry_after)
    assert rl.take("k").allowed


def test_retry_after_is_exact_ms_rounded_up() -> None:
    rl, clock = make(5, 3.0)
    for _ in range(5):
        rl.take("k")
    clock.advance(0.1)
    d = rl.take("k")
    assert isinstance(d.retry_after, float)
    # 1/3 - 0.1 = 0.2333… s, rounded up to the millisecond.
    assert d.retry_after == 0.234


def test_reset_is_when_full_rounded_up() -> None:
    rl, clock = make(5, 2.0)
    clock.now = 1_700_000_000.0
    assert rl.take("k").reset_at == 1_700_000_001  # full again in 0.5 s -> round up
    rl.take("k")
    assert rl.take("k").reset_at == 1_700_000_002  # 1.5 s
    rl.take("k")
    assert rl.take("k").reset_at == 1_700_000_003  # empty: 2.5 s
    assert rl.take("k").reset_at == 1_700_000_003  # refused: unchanged
    clock.advance(0.5)
    assert rl.take("k").reset_at == 1_700_000_003  # 0.5 s refilled, 0.5 s spent


def test_reset_on_exact_second_is_not_bumped_by_float_noise() -> None:
    rl, clock = make(30, 15.0)
    clock.now = 1_700_000_000.0
    for _ in range(15):
        d = rl.take("k")
    # 15 × (1/15) s = 1 s exactly in real numbers; float sums must not make it 2.
    assert d.reset_at == 1_700_000_001
    assert d.remaining == 15


def test_clock_stepping_back_is_capped_to_one_window() -> None:
    rl, clock = make(5, 2.0)
    rl.take("k")
    clock.advance(-3600)  # wall clock corrected backwards by an hour
    d = rl.take("k")
    assert not d.allowed
    assert d.retry_after is not None and d.retry_after <= 0.5
    assert d.reset_at <= math.ceil(clock.now + 5 / 2.0)


# --- F10: header values and units -------------------------------------------------------


def check_f10(d: Decision, now: float, cfg: BucketConfig) -> None:
    headers = dict(d.headers())
    window = cfg.capacity / cfg.refill_per_second
    assert headers["X-RateLimit-Limit"] == str(cfg.capacity)
    remaining = int(headers["X-RateLimit-Remaining"])
    assert 0 <= remaining < cfg.capacity
    reset = int(headers["X-RateLimit-Reset"])
    assert now <= reset <= math.ceil(now + window)
    if d.allowed:
        assert "Retry-After" not in headers
        assert d.retry_after is None
    else:
        assert remaining == 0
        assert isinstance(d.retry_after, float)
        assert 0 < d.retry_after <= 1 / cfg.refill_per_second + 0.001  # ms rounding up
        assert d.retry_after == round(d.retry_after, 3)
        retry = int(headers["Retry-After"])
        assert retry == max(1, math.ceil(d.retry_after))
        assert 1 <= retry <= reset - now + 1


def test_f10_login_sequence_with_auth_defaults() -> None:
    cfg = DEFAULT_BUCKETS["auth"]
    rl = RateLimiter(cfg, clock := FakeClock())
    seen = []
    while True:
        d = rl.take("203.0.113.9")
        check_f10(d, clock.now, cfg)
        seen.append(int(dict(d.headers())["X-RateLimit-Remaining"]))
        if not d.allowed:
            break
        clock.advance(0.01)
    assert seen == [4, 3, 2, 1, 0, 0]
    clock.advance(int(dict(d.headers())["Retry-After"]))
    after = rl.take("203.0.113.9")
    assert after.allowed
    check_f10(after, clock.now, cfg)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 60),
    rate=st.floats(0.05, 100.0),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=120),
)
def test_f10_invariants_under_any_arrival_pattern(
    capacity: int, rate: float, gaps: list[float]
) -> None:
    cfg = BucketConfig(capacity, rate)
    clock = FakeClock()
    rl = RateLimiter(cfg, clock)
    for gap in gaps:
        clock.advance(gap)
        d = rl.take("k")
        check_f10(d, clock.now, cfg)
        if not d.allowed:
            # Waiting retry_after is always enough for the next request.
            assert d.retry_after is not None
            clock.advance(d.retry_after)
            after = rl.take("k")
            assert after.allowed
            check_f10(after, clock.now, cfg)


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(0.001, "1"), (0.35, "1"), (1.0, "1"), (1.001, "2"), (2.5, "3")],
)
def test_retry_after_header_rounding(retry_after: float, header: str) -> None:
    d = Decision(
        allowed=False, limit=5, remaining=0, reset_at=10, retry_after=retry_after
    )
    assert d.headers() == [
        ("X-RateLimit-Limit", "5"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "10"),
        ("Retry-After", header),
    ]


def test_allowed_headers_have_no_retry_after() -> None:
    d = Decision(allowed=True, limit=30, remaining=29, reset_at=1_700_000_001)
    assert d.headers() == [
        ("X-RateLimit-Limit", "30"),
        ("X-RateLimit-Remaining", "29"),
        ("X-RateLimit-Reset", "1700000001"),
    ]


# --- bounded state ----------------------------------------------------------------------


def test_prune_drops_full_buckets_only() -> None:
    rl, clock = make(4, 2.0)  # full again 0.5 s per token taken
    rl.take("one")
    for _ in range(4):
        rl.take("four")
    assert len(rl) == 2
    clock.advance(1.0)
    assert rl.prune() == 1  # "one" is full, "four" needs 1 s more
    assert len(rl) == 1
    assert rl.prune(clock.now + 1.0) == 1
    assert len(rl) == 0
    assert rl.prune() == 0


def test_dropped_bucket_behaves_as_full() -> None:
    rl, clock = make(3, 1.0)
    for _ in range(3):
        rl.take("k")
    clock.advance(3.0)
    rl.prune()
    assert len(rl) == 0
    assert [rl.take("k").allowed for _ in range(4)] == [True, True, True, False]


def test_lazy_pruning_on_take_keeps_state_bounded() -> None:
    rl, clock = make(2, 10.0)  # a bucket is full 0.2 s after its last take
    peak = 0
    for i in range(5000):
        rl.take(f"10.0.{i // 256}.{i % 256}")
        clock.advance(0.01)  # 100 new clients per second, never prune() called
        peak = max(peak, len(rl))
    # Only buckets taken within the last refill window (0.2 s = 20 clients) can remain.
    assert peak <= 25


def test_prune_leaves_only_recent_buckets() -> None:
    rl, clock = make(5, 1.0)  # window 5 s
    for i in range(1000):
        rl.take(str(i))
        clock.advance(0.01)
    rl.prune()
    # Clients from the last 5 s (500 of them) may remain; all older ones are gone.
    assert len(rl) <= 501
    clock.advance(5.0)
    rl.prune()
    assert len(rl) == 0


def test_refused_takes_do_not_grow_state() -> None:
    rl, _ = make(1, 1.0)
    rl.take("k")
    for _ in range(100):
        rl.take("k")
    assert len(rl) == 1


# --- Limiters ---------------------------------------------------------------------------


def test_limiters_from_default_config() -> None:
    clock = FakeClock()
    lim = Limiters.from_config(clock=clock)
    for name in BUCKET_NAMES:
        assert lim.get(name).config == DEFAULT_BUCKETS[name]
    d = lim.take("auth", "1.2.3.4")
    assert d is not None and d.limit == 5
    # Buckets are separate: the same key in another bucket starts full.
    d2 = lim.take("ip", "1.2.3.4")
    assert d2 is not None and d2.limit == 20 and d2.remaining == 19


def test_limiters_disabled_returns_none() -> None:
    lim = Limiters.from_config(DEFAULT_BUCKETS, enabled=False, clock=FakeClock())
    assert lim.take("user", "u") is None


def test_limiters_reject_bad_bucket_names() -> None:
    with pytest.raises(ValueError, match="missing.*'bot'"):
        Limiters.from_config({k: v for k, v in DEFAULT_BUCKETS.items() if k != "bot"})
    with pytest.raises(ValueError, match="unknown.*'gateway'"):
        Limiters.from_config({**DEFAULT_BUCKETS, "gateway": BucketConfig(1, 1.0)})
    lim = Limiters.from_config(clock=FakeClock())
    with pytest.raises(ValueError, match="unknown rate-limit bucket"):
        lim.take("admin", "x")


def test_limiters_prune_all() -> None:
    clock = FakeClock()
    lim = Limiters.from_config(clock=clock)
    for name in BUCKET_NAMES:
        lim.take(name, "k")
    clock.advance(10.0)
    assert lim.prune() == 4


# --- ip_key -----------------------------------------------------------------------------


def test_ip_key_ipv4_as_is() -> None:
    assert ip_key("203.0.113.7") == "203.0.113.7"


def test_ip_key_ipv6_by_slash_64() -> None:
    a = ip_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    b = ip_key("2001:DB8:1:2::1")
    c = ip_key("2001:db8:1:3::1")
    assert a == b == "2001:db8:1:2::/64"
    assert c != a


def test_ip_key_ipv4_mapped_and_scoped() -> None:
    assert ip_key("::ffff:198.51.100.4") == "198.51.100.4"
    assert ip_key("fe80::1%eth0") == ip_key("fe80::2") == "fe80::/64"


def test_ip_key_non_ip_unchanged() -> None:
    assert ip_key("") == ""
    assert ip_key("unix-socket") == "unix-socket"


# --- client_ip / parse_trusted ----------------------------------------------------------

TRUSTED = parse_trusted(["10.0.0.0/8", "192.0.2.1", "fd00::/8"])


def test_untrusted_peer_ignores_forwarded_for() -> None:
    assert client_ip("198.51.100.1", "1.2.3.4", TRUSTED) == "198.51.100.1"
    assert client_ip("198.51.100.1", "1.2.3.4", ()) == "198.51.100.1"


def test_trusted_peer_without_header_is_the_client() -> None:
    assert client_ip("10.1.1.1", None, TRUSTED) == "10.1.1.1"
    assert client_ip("10.1.1.1", "", TRUSTED) == "10.1.1.1"
    assert client_ip("10.1.1.1", " , ", TRUSTED) == "10.1.1.1"


def test_trusted_peer_uses_rightmost_untrusted() -> None:
    # The client forged "6.6.6.6"; the first proxy appended the real 203.0.113.5.
    xff = "6.6.6.6, 203.0.113.5, 10.2.2.2, 192.0.2.1"
    assert client_ip("10.0.0.1", xff, TRUSTED) == "203.0.113.5"
    assert client_ip("192.0.2.1", "203.0.113.5", TRUSTED) == "203.0.113.5"


def test_chain_of_only_trusted_proxies_gives_leftmost() -> None:
    assert client_ip("10.0.0.1", "10.9.9.9, 192.0.2.1", TRUSTED) == "10.9.9.9"


def test_garbage_in_forwarded_for_stops_the_walk() -> None:
    # Nothing left of garbage is believed; the last trusted hop is the client.
    assert client_ip("10.0.0.1", "1.2.3.4, unknown", TRUSTED) == "10.0.0.1"
    assert client_ip("10.0.0.1", "1.2.3.4, not-an-ip, 10.3.3.3", TRUSTED) == "10.3.3.3"
    assert client_ip("10.0.0.1", "\x00\xff;;", TRUSTED) == "10.0.0.1"
    assert client_ip("10.0.0.1", "[2001:db8::1", TRUSTED) == "10.0.0.1"


def test_forwarded_for_ports_ipv6_and_mapped() -> None:
    assert client_ip("10.0.0.1", "203.0.113.5:4711", TRUSTED) == "203.0.113.5"
    assert client_ip("10.0.0.1", "[2001:DB8::1]:443", TRUSTED) == "2001:db8::1"
    assert client_ip("fd12::1", "2001:db8::7, fd00::2", TRUSTED) == "2001:db8::7"
    # Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6.
    assert client_ip("::ffff:10.0.0.1", "203.0.113.5", TRUSTED) == "203.0.113.5"
    assert client_ip("::ffff:198.51.100.1", None, TRUSTED) == "198.51.100.1"


def test_non_ip_peer_is_returned_unchanged() -> None:
    assert client_ip("", "1.2.3.4", TRUSTED) == ""


def test_parse_trusted_accepts_ips_and_cidr() -> None:
    nets = parse_trusted(
        [" 127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "::ffff:172.16.0.0/108"]
    )
    assert nets == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("172.16.0.0/12"),
    )
    assert parse_trusted([]) == ()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "proxy.local",
            r"trusted_proxies\[1\] = 'proxy.local': not an IP address or CIDR range",
        ),
        ("", "not an IP address or CIDR range"),
        ("10.0.0.0/33", "not an IP address or CIDR range"),
        ("10.0.0.1/8", "host bits are set; did you mean '10.0.0.0/8'"),
        (8080, "must be a string"),
    ],
)
def test_parse_trusted_rejects_bad_entries(entry: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_trusted(["127.0.0.1", entry])  # type: ignore[list-item]


def test_overlong_strings_are_not_ips() -> None:
    junk = "1" * 10_000
    assert ip_key(junk) == junk
    assert client_ip("10.0.0.1", f"1.2.3.4, {junk}", TRUSTED) == "10.0.0.1"
    assert client_ip(junk, None, TRUSTED) == junk
