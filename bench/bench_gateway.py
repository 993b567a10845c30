"""Gateway fan-out: send-to-receive latency at every session, and server RSS (not in CI).

With N sessions (default 500, one user each) in one server, post messages at a steady
rate (default 20/s) over REST and measure, at every session, the time from just before
the POST to the arrival of its MESSAGE_CREATE (p50, p99, max). Then the same payload,
broadcast by a bare quart-trio/hypercorn WebSocket server (one encode, one bounded queue
and send task per socket, no auth, no database) to the same number of sockets, in the
same run, as the baseline. Server RSS is read from /proc with the N sessions idle.

Both servers run in their own process and call ``gc.freeze()`` after start-up; the
clients (trio-websocket) are spread over ``--workers`` processes. Everything shares
this machine's cores, so absolute figures include client CPU contention.

Run: /work/main/.venv/bin/python bench/bench_gateway.py [--sessions 500] [--rate 20] [--seconds 15] [--workers 4]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# -- server processes ----------------------------------------------------------------------

def serve_together(data_dir: str) -> None:
    from together_server.config import structure_config
    from together_server.daemon import run_daemon

    cfg = structure_config({
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": data_dir},
        "auth": {"argon2_memory_kib": 64, "argon2_time_cost": 1},
        "ratelimit": {"enabled": False},
        "logging": {"level": "warning"},
    })

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            running = await nursery.start(lambda task_status: run_daemon(
                cfg, task_status=task_status, install_signal_handlers=True))
            gc.collect()
            gc.freeze()
            print(json.dumps({"url": running.url}), flush=True)

    if os.environ.get("BENCH_PROFILE"):  # where the server's CPU goes (cProfile, sorted by tottime)
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(trio.run, main)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        trio.run(main)


def serve_bare(queue_size: int) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve
    from quart import request, websocket
    from quart_trio import QuartTrio

    app = QuartTrio("bare")
    sockets: set[trio.MemorySendChannel[str]] = set()

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        send, receive = trio.open_memory_channel[str](queue_size)
        sockets.add(send)
        try:
            async for frame in receive:
                await websocket.send(frame)
        finally:
            sockets.discard(send)

    @app.route("/broadcast", methods=["POST"])
    async def broadcast() -> Any:
        frame = (await request.get_data()).decode()  # encoded once
        for s in list(sockets):
            try:
                s.send_nowait(frame)
            except trio.WouldBlock:
                s.close()
        return {"sent": len(sockets)}

    async def main() -> None:
        cfg = Config()
        cfg.bind = ["127.0.0.1:0"]
        cfg.accesslog = None
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(lambda task_status: serve(app, cfg, task_status=task_status))
            gc.collect()
            gc.freeze()
            print(json.dumps({"url": binds[0]}), flush=True)

    trio.run(main)


# -- client worker process -----------------------------------------------------------------

def worker(url: str, tokens: list[str], bare: bool) -> None:
    """Open one socket per token; print "ready"; record latencies until "END"; print them."""
    import orjson
    from trio_websocket import open_websocket_url

    latencies: list[float] = []

    async def client(token: str, ready: trio.Semaphore, done: trio.Event) -> None:
        target = url.replace("http://", "ws://") + "/ws" + ("" if bare else f"?token={token}")
        async with open_websocket_url(target, message_queue_size=10_000) as ws:
            if not bare:
                await ws.get_message()  # READY
            ready.release()
            while True:
                msg = orjson.loads(await ws.get_message())
                if msg.get("t") != "MESSAGE_CREATE":
                    continue
                content = msg["d"]["content"]
                if content == "END":
                    break
                latencies.append(time.time() - float(content))
        done.set()

    async def main() -> None:
        ready = trio.Semaphore(0, max_value=len(tokens))
        events = [trio.Event() for _ in tokens]
        async with trio.open_nursery() as nursery:
            for token, ev in zip(tokens, events, strict=True):
                nursery.start_soon(client, token, ready, ev)
            for _ in tokens:
                await ready.acquire()
            print("ready", flush=True)
            for ev in events:
                await ev.wait()
        print(json.dumps(latencies), flush=True)

    trio.run(main)


# -- orchestration -------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, limit: float = 120.0) -> float:
    """Wait until the server is idle (< 5% CPU over 0.5 s); returns the seconds waited.

    500 connects make 500 presence announcements to 500 co-members (250,000 frames):
    the steady-state measurement starts after that storm, not during it."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = cpu_s(pid)
        time.sleep(0.5)
        if cpu_s(pid) - before < 0.025:
            break
    return time.monotonic() - start


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def start_workers(url: str, tokens: list[str], workers: int, bare: bool) -> list[subprocess.Popen[str]]:
    procs = []
    per = (len(tokens) + workers - 1) // workers
    for i in range(workers):
        chunk = tokens[i * per:(i + 1) * per]
        p = spawn("--worker", url, "--bare" if bare else "--together")
        assert p.stdin is not None
        p.stdin.write(json.dumps(chunk) + "\n")
        p.stdin.close()
        procs.append(p)
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    return procs


def collect(procs: list[subprocess.Popen[str]]) -> list[float]:
    out: list[float] = []
    for p in procs:
        assert p.stdout is not None
        out.extend(json.loads(p.stdout.readline()))
        p.wait(30)
    return out


def summary(lat: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in lat)
    return {"n": len(ms), "p50": statistics.median(ms), "p99": ms[int(len(ms) * 0.99) - 1], "max": ms[-1]}


async def setup_together(url: str, n: int) -> tuple[str, str, list[str]]:
    """Owner + server + channel, and n members (one session each); returns tokens."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as h:
        async def register(name: str) -> dict[str, Any]:
            r = await h.post("/auth/register", json={"username": name, "password": "correct horse"})
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

        owner = await register("owner")
        auth = {"Authorization": f"Bearer {owner['access_token']}"}
        srv = (await h.post("/servers", json={"name": "Bench"}, headers=auth)).json()
        chan = (await h.post(f"/servers/{srv['id']}/channels", json={"name": "general", "type": "text"},
                             headers=auth)).json()
        code = (await h.post(f"/servers/{srv['id']}/invites", json={}, headers=auth)).json()["code"]
        tokens: list[str] = []
        limiter = trio.CapacityLimiter(16)

        async def member(i: int) -> None:
            async with limiter:
                body = await register(f"member{i}")
                r = await h.post(f"/invites/{code}/accept", headers={"Authorization": f"Bearer {body['access_token']}"})
                r.raise_for_status()
                tokens.append(body["access_token"])

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(member, i)
        return owner["access_token"], chan["id"], tokens


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
        await h.post(path, content=make("END"))
    return sent


def run_together(args: argparse.Namespace) -> tuple[dict[str, float], float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = spawn("--serve-together", tmp)
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        try:
            owner, chan, tokens = trio.run(setup_together, url, args.sessions)
            rss_empty = rss_mb(server.pid)
            cpu_connect = cpu_s(server.pid)
            procs = start_workers(url, tokens, args.workers, bare=False)
            settled = settle(server.pid)
            cpu_connect = cpu_s(server.pid) - cpu_connect
            rss_idle = rss_mb(server.pid)
            import orjson

            def make(content: str) -> bytes:
                return orjson.dumps({"content": content})

            cpu0 = cpu_s(server.pid)
            trio.run(post_loop, url, f"/channels/{chan}/messages", args.rate, args.seconds, make,
                     {"Authorization": f"Bearer {owner}", "Content-Type": "application/json"})
            lat = collect(procs)
            cpu = cpu_s(server.pid) - cpu0
        finally:
            server.terminate()
            server.wait(30)
    return {**summary(lat), "cpu": cpu, "settled": settled, "cpu_connect": cpu_connect}, rss_empty, rss_idle


def run_bare(args: argparse.Namespace) -> tuple[dict[str, float], float]:
    import orjson

    server = spawn("--serve-bare", str(500))
    assert server.stdout is not None
    url = json.loads(server.stdout.readline())["url"]
    seq = iter(range(2, 10**9))
    # The same envelope and a Message of the same shape and size as the gateway sends.
    template = {"id": "01a22a00-0000-7000-8000-000000000000", "channel_id": "01a22a00-0000-7000-8000-000000000001",
                "author_id": "01a22a00-0000-7000-8000-000000000002", "content": "", "reply_to": None,
                "mention_user_ids": [], "mention_everyone": False, "thread_id": None, "thread_reply_count": 0,
                "edited_at": None, "deleted": False, "created_at": "2026-01-01T00:00:00.000000Z", "pinned": False,
                "pinned_by": None, "pinned_at": None, "poll": None, "event": None, "reactions": []}

    def make(content: str) -> bytes:
        return orjson.dumps({"op": "DISPATCH", "t": "MESSAGE_CREATE", "s": next(seq), "d": {**template, "content": content}})

    try:
        procs = start_workers(url, ["-"] * args.sessions, args.workers, bare=True)
        settle(server.pid)
        rss_idle = rss_mb(server.pid)
        cpu0 = cpu_s(server.pid)
        trio.run(post_loop, url, "/broadcast", args.rate, args.seconds, make, {})
        lat = collect(procs)
        cpu = cpu_s(server.pid) - cpu0
    finally:
        server.terminate()
        server.wait(30)
    return {**summary(lat), "cpu": cpu}, rss_idle


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-together":
        return serve_together(sys.argv[2])
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        return serve_bare(int(sys.argv[2]))
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], json.loads(sys.stdin.readline()), sys.argv[3] == "--bare")
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    bare, bare_rss = run_bare(args)
    ours, rss_empty, rss_idle = run_together(args)
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"{args.sessions} sessions, {args.rate:g} msg/s for {args.seconds:g} s, {args.workers} client processes, "
          f"{os.cpu_count()} cores shared by server and clients\n")
    print(f"{'server':<28}{'deliveries':>11}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'RSS idle MB':>13}{'server CPU s':>14}")
    for name, r, rss in (("bare hypercorn broadcast", bare, bare_rss), ("together-server gateway", ours, rss_idle)):
        print(f"{name:<28}{r['n']:>11.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}{rss:>13.1f}{r['cpu']:>14.1f}")
    print(f"\nratio gateway/bare: p50 {ours['p50'] / bare['p50']:.2f}, p99 {ours['p99'] / bare['p99']:.2f}")
    print(f"together-server connect storm: {ours['cpu_connect']:.1f} s server CPU, idle again after "
          f"{ours['settled']:.1f} s (READY x{args.sessions} + presence to every co-member)")
    print(f"together-server RSS: {rss_empty:.1f} MB after set-up with no sessions, {rss_idle:.1f} MB with "
          f"{args.sessions} idle sessions ({(rss_idle - rss_empty) * 1024 / args.sessions:.0f} KB/session)")


if __name__ == "__main__":
    main()
