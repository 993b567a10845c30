"""Gateway memory: idle sessions, and cycles of sessions opened and closed (not in CI; issue 15 §2).

1. **idle**: a fresh daemon, ``--idle-users`` x ``--per-user`` sessions (default 50 x 10 =
   500) in one server, connected and idle: server RSS (goal < 100 MiB).
2. **cycles**: a fresh daemon with ``--users`` members of one server, then ``--cycles``
   times: open ``--users`` x ``--per-user`` sessions (default 200 x 10 = 2,000), wait for
   READY on all, hold ``--hold`` seconds, close them all with 1000, wait until the server
   is idle: server RSS after each cycle (goal: after the last within 10 % of after the
   first), then again after ``--idle-after`` seconds with nothing connected.

The clients run in ``--workers`` processes on the same cores; RSS is the daemon's alone
(/proc/<pid>/status VmRSS). The load average is printed with each figure (shared machine).

Run: .venv/bin/python bench/bench_gateway_memory.py [--cycles 10] [--users 200] [--per-user 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_procs import (  # noqa: E402
    ask_all,
    load,
    merged_stats,
    raise_nofile,
    rss_mb,
    settle,
    setup_server,
    start_server,
    start_workers,
)

IDLE_GOAL_MIB, GROWTH_GOAL = 100.0, 0.10


def run_idle(args: argparse.Namespace) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server("--serve-together", tmp)
        procs = []
        try:
            _, _, _, tokens = trio.run(setup_server, url, args.idle_users)
            settle(server.pid)
            before = rss_mb(server.pid)
            procs = start_workers(url, [t for t in tokens for _ in range(args.per_user)], args.workers, bare=False)
            ask_all(procs, "open")
            settle(server.pid)
            time.sleep(3.0)  # let the presence window and any collection pass
            after = rss_mb(server.pid)
            ask_all(procs, "close")
        finally:
            for p in procs:
                p.stop()
            server.stop()
    return before, after, load()


def run_cycles(args: argparse.Namespace) -> tuple[float, list[tuple[float, float, str, int]], float]:
    rows: list[tuple[float, float, str, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server("--serve-together", tmp)
        procs = []
        try:
            _, _, _, tokens = trio.run(setup_server, url, args.users)
            settle(server.pid)
            fresh = rss_mb(server.pid)
            procs = start_workers(url, [t for t in tokens for _ in range(args.per_user)], args.workers, bare=False)
            for _ in range(args.cycles):
                replies = ask_all(procs, "open")
                failed = sum(r["failed"] for r in replies)
                settle(server.pid)
                time.sleep(args.hold)
                held = rss_mb(server.pid)
                ask_all(procs, "close")
                merged_stats(procs)
                settle(server.pid)
                time.sleep(3.0)  # the reclaim after a burst of closes waits for 1 s of quiet
                rows.append((held, rss_mb(server.pid), load(), failed))
            time.sleep(args.idle_after)
            idle = rss_mb(server.pid)
        finally:
            for p in procs:
                p.stop()
            server.stop()
    return fresh, rows, idle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle-users", type=int, default=50)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--per-user", type=int, default=10)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--idle-after", type=float, default=15.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--skip-idle", action="store_true")
    args = ap.parse_args()
    nofile = raise_nofile()
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"{os.cpu_count()} cores shared by server, clients and other work; RLIMIT_NOFILE {nofile}\n")
    if not args.skip_idle:
        before, after, ld = run_idle(args)
        n = args.idle_users * args.per_user
        print(f"idle: {n} sessions ({args.idle_users} users x {args.per_user}): RSS {before:.1f} MiB with none, "
              f"{after:.1f} MiB with {n} idle (goal < {IDLE_GOAL_MIB:g}; {ld})\n", flush=True)
    fresh, rows, idle = run_cycles(args)
    n = args.users * args.per_user
    print(f"cycles of {n} sessions ({args.users} users x {args.per_user}): open, READY, hold {args.hold:g} s, "
          f"close 1000; fresh daemon RSS {fresh:.1f} MiB")
    print(f"{'cycle':>6}{'RSS held MiB':>14}{'RSS after close MiB':>21}{'failed':>8}  load")
    for i, (held, after, ld, failed) in enumerate(rows, 1):
        print(f"{i:>6}{held:>14.1f}{after:>21.1f}{failed:>8}  {ld}")
    first, last = rows[0][1], rows[-1][1]
    print(f"\nafter close: cycle {len(rows)} / cycle 1 = {last / first:.3f} (goal <= {1 + GROWTH_GOAL:.2f}); "
          f"held: cycle {len(rows)} / cycle 1 = {rows[-1][0] / rows[0][0]:.3f}; "
          f"{idle:.1f} MiB after {args.idle_after:g} s more idle")


if __name__ == "__main__":
    main()
