"""Unit cost of together_server.ratelimit: memory per client and time per ``take()``.

(1) Memory for N distinct client IPs held at once (tracemalloc, worst case: a frozen clock,
so no bucket refills and nothing is pruned). Goal: < 30 MB for 100,000.
(2) Time per operation against a baseline loop doing one dict get + set on the same keys,
measured in the same run, reported as a ratio. Best of ``--repeat`` runs.

Run: /work/main/.venv/bin/python bench/bench_ratelimit.py [--clients 100000] [--ops 200000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from together_server.netaddr import parse_trusted
from together_server.ratelimit import (
    DEFAULT_BUCKETS,
    BucketConfig,
    RateLimiter,
    client_ip,
    ip_key,
)

FROZEN = 1_700_000_000.25


def ipv4(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def ipv6(i: int) -> str:
    return f"2001:db8:{(i >> 16) & 0xFFFF:x}:{i & 0xFFFF:x}::{i % 7 + 1:x}"


def memory_mb(n: int, make_ip: Callable[[int], str]) -> tuple[float, float]:
    """MB traced for n clients in the ip bucket, and bytes per client."""
    ips = [make_ip(i) for i in range(n)]  # the request's own strings; not counted
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    limiter = RateLimiter(DEFAULT_BUCKETS["ip"], lambda: FROZEN)
    for ip in ips:
        limiter.take(ip_key(ip))
    assert len(limiter) == n
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del limiter
    return used / 1e6, used / n


def best_of(repeat: int, fn: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def timings(ops: int, repeat: int) -> list[tuple[str, float]]:
    """(label, seconds per op) rows; the first row is the baseline."""
    keys = [ipv4(i) for i in range(1000)]
    seq = [keys[i % len(keys)] for i in range(ops)]

    def baseline() -> None:
        d: dict[str, float] = {}
        for k in seq:
            v = d.get(k)
            d[k] = 0.0 if v is None else v + 1.0

    # Allowed path: 1000 clients, each far from empty (real clock, default ip bucket is
    # too small for 200 hits per client, so use a large one).
    def take_allowed() -> None:
        rl = RateLimiter(BucketConfig(10**9, 1e6))
        for k in seq:
            rl.take(k)

    # Refused path: every client drained first, then hammered (an attacker's cost).
    def take_refused() -> None:
        rl = RateLimiter(BucketConfig(1, 1e-6))
        for k in seq:
            rl.take(k)

    # New client on every request, with lazy pruning running (real clock, default ip bucket).
    fresh = [ipv4(i) for i in range(ops)]

    def take_new_clients() -> None:
        rl = RateLimiter(DEFAULT_BUCKETS["ip"])
        for k in fresh:
            rl.take(k)

    trusted = parse_trusted(["10.0.0.0/8"])
    xff = [f"203.0.{(i >> 8) & 255}.{i & 255}, 10.0.0.2" for i in range(1000)]
    xff_seq = [xff[i % len(xff)] for i in range(ops)]

    # What the middleware does per request: resolve the IP, key it, take, build headers.
    def full_path() -> None:
        rl = RateLimiter(BucketConfig(10**9, 1e6))
        for h in xff_seq:
            rl.take(ip_key(client_ip("10.0.0.1", h, trusted))).headers()

    # The same for a new client on every request: every parse misses the caches.
    xff_fresh = [
        f"203.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}, 10.0.0.2"
        for i in range(ops)
    ]

    def full_path_new_clients() -> None:
        rl = RateLimiter(DEFAULT_BUCKETS["ip"])
        for h in xff_fresh:
            rl.take(ip_key(client_ip("10.0.0.1", h, trusted))).headers()

    rows = []
    for label, fn in [
        ("baseline: dict get+set", baseline),
        ("take(), allowed", take_allowed),
        ("take(), refused", take_refused),
        ("take(), new client each time", take_new_clients),
        ("client_ip+ip_key+take+headers", full_path),
        ("  same, new client each time", full_path_new_clients),
    ]:
        rows.append((label, best_of(repeat, fn) / ops))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"python {sys.version.split()[0]}")
    print()
    print(
        f"(1) memory, {args.clients:,} distinct clients held (goal < 30 MB for 100,000)"
    )
    print(f"{'clients':<22}{'MB':>10}{'bytes/client':>15}")
    for label, make_ip in [("IPv4", ipv4), ("IPv6 (keyed by /64)", ipv6)]:
        mb, per = memory_mb(args.clients, make_ip)
        print(f"{label:<22}{mb:>10.2f}{per:>15.0f}")
    print()
    print(f"(2) time per operation, {args.ops:,} ops, best of {args.repeat}")
    rows = timings(args.ops, args.repeat)
    base = rows[0][1]
    print(f"{'operation':<34}{'µs/op':>10}{'× baseline':>12}")
    for label, per in rows:
        print(f"{label:<34}{per * 1e6:>10.3f}{per / base:>12.1f}")


if __name__ == "__main__":
    main()
