"""Gateway at scale: connect storm, REST under load, fan-out latency (not in CI; issue 15 §1).

``--users U --per-user K`` gateway sessions (U users x K sessions each, all members of one
server, rate limits off) are opened at once by ``--workers`` client processes. Reported:

1. **connect storm**: seconds from the first handshake to READY on every session, server
   CPU, how long until the server is idle again, and the PRESENCE_UPDATE frames it sent;
2. **REST** with the sessions connected: ``--rest-rate`` requests/s for ``--rest-seconds``
   (open loop: latency counts from the scheduled send time), a mix of message-list,
   ``/users/@me`` and server reads, p50/p99;
3. **fan-out**: ``--rate`` messages/s posted over REST for ``--seconds``; at every session,
   the time from just before the POST to the arrival of its MESSAGE_CREATE. The same
   payload broadcast by a bare quart-trio/hypercorn WebSocket server to the same number
   of sockets, in the same run, is the baseline (the ceiling: one encode, one queue per
   socket, no auth, no database).

Everything shares this machine's cores (clients included), so absolute figures include
client CPU; read the ratios, and the load average printed with them.

Issue 15's figure (2,000 sessions, 2 msg/s = 4,000 deliveries/s):
    .venv/bin/python bench/bench_gateway.py --users 200 --per-user 10 --rate 2
The older 500-session figure: .venv/bin/python bench/bench_gateway.py --users 500 --per-user 1 --rate 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_procs import (  # noqa: E402
    ask_all,
    cpu_s,
    load,
    merged_stats,
    raise_nofile,
    rss_mb,
    settle,
    setup_server,
    start_server,
    start_workers,
    summary,
)

REST_GOAL_MS, FANOUT_GOAL_MS, CONNECT_GOAL_S = 100.0, 250.0, 15.0


async def post_loop(url: str, path: str, rate: float, seconds: float, make: Any, headers: dict[str, str]) -> int:
    import httpx

    sent = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as h:
        start = trio.current_time()
        for i in range(int(rate * seconds)):
            await trio.sleep_until(start + i / rate)
            r = await h.post(path, content=make(repr(time.time())))
            r.raise_for_status()
            sent += 1
    return sent


async def rest_load(url: str, tokens: list[str], server_id: str, channel_id: str,
                    rate: float, seconds: float) -> dict[str, float]:
    """Open-loop GETs at ``rate``/s over 32 keep-alive connections; latency from schedule."""
    import httpx

    paths = [f"/channels/{channel_id}/messages?limit=50", "/users/@me", f"/servers/{server_id}",
             f"/servers/{server_id}/channels"]
    lat: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as h:
        async def one(i: int, due: float) -> None:
            nonlocal errors
            r = await h.get(paths[i % len(paths)], headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
            if r.status_code != 200:
                errors += 1
            lat.append(trio.current_time() - due)

        async with trio.open_nursery() as nursery:
            start = trio.current_time() + 0.1
            for i in range(int(rate * seconds)):
                due = start + i / rate
                await trio.sleep_until(due)
                nursery.start_soon(one, i, due)
    return {**summary(lat), "errors": errors}


def fanout_template() -> dict[str, Any]:
    """A Message of the same shape and size as the gateway sends (for the bare baseline)."""
    return {"id": "01a22a00-0000-7000-8000-000000000000", "channel_id": "01a22a00-0000-7000-8000-000000000001",
            "author_id": "01a22a00-0000-7000-8000-000000000002", "content": "", "reply_to": None,
            "mention_user_ids": [], "mention_everyone": False, "thread_id": None, "thread_reply_count": 0,
            "edited_at": None, "deleted": False, "created_at": "2026-01-01T00:00:00.000000Z", "pinned": False,
            "pinned_by": None, "pinned_at": None, "poll": None, "event": None, "reactions": []}


def run_bare(args: argparse.Namespace, sessions: int) -> dict[str, Any]:
    import orjson

    server, url = start_server("--serve-bare", str(500))
    seq = iter(range(2, 10**9))
    template = fanout_template()

    def make(content: str) -> bytes:
        return orjson.dumps({"op": "DISPATCH", "t": "MESSAGE_CREATE", "s": next(seq), "d": {**template, "content": content}})

    procs = start_workers(url, ["-"] * sessions, args.workers, bare=True)
    try:
        ask_all(procs, "open")
        settle(server.pid)
        rss_idle = rss_mb(server.pid)
        merged_stats(procs)
        cpu0 = cpu_s(server.pid)
        trio.run(post_loop, url, "/broadcast", args.rate, args.seconds, make, {})
        time.sleep(2.0)
        settle(server.pid, 60)
        _, lat, closed = merged_stats(procs)
        cpu = cpu_s(server.pid) - cpu0
        ask_all(procs, "close")
    finally:
        for p in procs:
            p.stop()
        server.stop()
    return {**summary(lat), "cpu": cpu, "rss": rss_idle, "closed": closed, "load": load()}


def run_together(args: argparse.Namespace) -> dict[str, Any]:
    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server("--serve-together", tmp)
        procs = []
        try:
            owner, server_id, chan, tokens = trio.run(setup_server, url, args.users)
            rss_empty = rss_mb(server.pid)
            procs = start_workers(url, [t for t in tokens for _ in range(args.per_user)], args.workers, bare=False)
            out: dict[str, Any] = {"rss_empty": rss_empty, "load_connect": load()}
            cpu0 = cpu_s(server.pid)
            t0 = time.time()
            replies = ask_all(procs, "open")
            out["connect_s"] = max(r["last"] for r in replies) - t0
            out["failed"] = sum(r["failed"] for r in replies)
            out["connect_cpu"] = cpu_s(server.pid) - cpu0
            out["settled_s"] = time.time() - t0 + settle(server.pid)
            out["storm_cpu"] = cpu_s(server.pid) - cpu0
            counts, _, closed = merged_stats(procs)
            out["presence_frames"] = counts.get("PRESENCE_UPDATE", 0)
            out["storm_closed"] = closed
            out["storm_errors"] = {k: v for k, v in counts.items() if k.startswith("error:")}
            out["rss_idle"] = rss_mb(server.pid)

            out["load_rest"] = load()
            out["rest"] = trio.run(rest_load, url, tokens, server_id, chan, args.rest_rate, args.rest_seconds)
            settle(server.pid, 60)
            merged_stats(procs)

            def make(content: str) -> bytes:
                return orjson.dumps({"content": content})

            out["load_fanout"] = load()
            cpu0 = cpu_s(server.pid)
            trio.run(post_loop, url, f"/channels/{chan}/messages", args.rate, args.seconds, make,
                     {"Authorization": f"Bearer {owner}", "Content-Type": "application/json"})
            time.sleep(2.0)
            settle(server.pid, 60)
            _, lat, closed = merged_stats(procs)
            out["fanout"] = {**summary(lat), "cpu": cpu_s(server.pid) - cpu0, "closed": closed}
            ask_all(procs, "close")
        finally:
            for p in procs:
                p.stop()
            server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--per-user", type=int, default=10)
    ap.add_argument("--rate", type=float, default=2.0, help="messages/s into the server")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rest-rate", type=float, default=200.0)
    ap.add_argument("--rest-seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    nofile = raise_nofile()
    sessions = args.users * args.per_user
    bare = run_bare(args, sessions)
    ours = run_together(args)
    f = ours["fanout"]
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"{sessions} sessions ({args.users} users x {args.per_user}), {args.rate:g} msg/s for {args.seconds:g} s "
          f"({sessions * args.rate:,.0f} deliveries/s), {args.workers} client processes, {os.cpu_count()} cores "
          f"shared by server, clients and other work; RLIMIT_NOFILE {nofile}\n")
    print(f"connect storm ({ours['load_connect']}): READY on all {sessions} in {ours['connect_s']:.1f} s "
          f"(goal < {CONNECT_GOAL_S:g} s; {ours['failed']} failed), server CPU {ours['connect_cpu']:.1f} s; "
          f"idle again after {ours['settled_s']:.1f} s ({ours['storm_cpu']:.1f} s CPU); "
          f"{ours['presence_frames']:,} PRESENCE_UPDATE frames; {ours['storm_closed']} sockets closed by the server"
          + (f"; client errors {ours['storm_errors']}" if ours["storm_errors"] else ""))
    r = ours["rest"]
    print(f"REST {args.rest_rate:g} req/s for {args.rest_seconds:g} s with the sessions connected "
          f"({ours['load_rest']}): n {r['n']:.0f}, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms "
          f"(goal < {REST_GOAL_MS:g}), max {r['max']:.1f} ms, {r['errors']} non-200")
    print(f"\nfan-out ({ours['load_fanout']})")
    print(f"{'server':<28}{'deliveries':>11}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'RSS idle MB':>13}"
          f"{'server CPU s':>14}{'closed':>8}")
    for name, row, rss in (("bare hypercorn broadcast", bare, bare["rss"]), ("together-server gateway", f, ours["rss_idle"])):
        print(f"{name:<28}{row['n']:>11.0f}{row['p50']:>9.1f}{row['p99']:>9.1f}{row['max']:>9.1f}{rss:>13.1f}"
              f"{row['cpu']:>14.1f}{row['closed']:>8}")
    expected = sessions * int(args.rate * args.seconds)
    print(f"\nexpected deliveries {expected}; ratio gateway/bare: p50 {f['p50'] / bare['p50']:.2f}, "
          f"p99 {f['p99'] / bare['p99']:.2f} (goal p99 < {FANOUT_GOAL_MS:g} ms and <= bare)")
    print(f"together-server RSS: {ours['rss_empty']:.1f} MB after set-up with no sessions, {ours['rss_idle']:.1f} MB "
          f"with {sessions} idle sessions ({(ours['rss_idle'] - ours['rss_empty']) * 1024 / sessions:.0f} KB/session)")


if __name__ == "__main__":
    main()
