"""Processes shared by the gateway benchmarks (not in CI): the servers and the client workers.

* :func:`serve_together` runs the daemon (rate limits off, cheap argon2) and prints its URL.
* :func:`serve_bare` runs a bare quart-trio/hypercorn WebSocket broadcaster: one encode,
  one bounded queue and send task per socket, no auth, no database (the baseline).
* :func:`worker` is a client process holding many sockets. It reads commands from stdin,
  one per line, and answers each with one JSON line on stdout:

  - ``open``: open every socket (64 handshakes in flight), wait for READY on each;
    answers ``{"first", "last", "failed"}`` (wall-clock times of the first and last READY);
  - ``stats``: ``{"counts": {event: n}, "latencies": [s...], "closed": n}`` since the last
    ``stats``; a latency is receive time minus the float in a MESSAGE_CREATE's content;
  - ``close``: close every socket with 1000 and answer ``{"closed": n}``;
  - ``exit``.

  Each socket sends a HEARTBEAT every 30 s, as a client should.

:class:`Proc` wraps a child with ``ask(command) -> reply``. Descriptors: :func:`raise_nofile`
lifts RLIMIT_NOFILE to the hard limit (children inherit it).
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def raise_nofile() -> int:
    """Lift the soft descriptor limit to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- server processes ----------------------------------------------------------------------

def serve_together(data_dir: str, extra: str = "{}") -> None:
    """The daemon on 127.0.0.1:0; ``extra`` is a JSON object of config tables merged in."""
    from together_server.config import structure_config
    from together_server.daemon import run_daemon

    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": data_dir},
        "auth": {"argon2_memory_kib": 64, "argon2_time_cost": 1},
        "ratelimit": {"enabled": False},
        "logging": {"level": "warning"},
    }
    for table, values in json.loads(extra).items():
        raw.setdefault(table, {}).update(values)
    cfg = structure_config(raw)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            running = await nursery.start(lambda task_status: run_daemon(
                cfg, task_status=task_status, install_signal_handlers=True))
            print(json.dumps({"url": running.url}), flush=True)

    if os.environ.get("BENCH_PROFILE"):  # where the server's CPU goes (cProfile, sorted by tottime)
        import cProfile
        import pstats

        prof = cProfile.Profile()
        try:
            prof.runcall(trio.run, main)
        finally:
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
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
    """Hold one socket per token; obey stdin commands (see the module docstring)."""
    import orjson
    from trio_websocket import ConnectionClosed, open_websocket_url

    counts: Counter[str] = Counter()
    latencies: list[float] = []
    closed = 0

    async def client(token: str, limiter: trio.CapacityLimiter, ready: list[float],
                     stop: trio.Event, gone: trio.Semaphore) -> None:
        nonlocal closed
        target = url.replace("http://", "ws://") + "/ws" + ("" if bare else f"?token={token}")
        try:
            async with limiter:
                ws_cm = open_websocket_url(target, message_queue_size=100_000)
                ws = await ws_cm.__aenter__()
                if not bare:
                    first = orjson.loads(await ws.get_message())
                    assert first["t"] == "READY", first
            ready.append(time.time())
            try:
                async with trio.open_nursery() as nursery:
                    async def heartbeat() -> None:
                        await trio.sleep(random.uniform(1, 30))
                        while True:
                            await ws.send_message('{"op":"HEARTBEAT"}')
                            await trio.sleep(30)

                    async def stopper() -> None:
                        await stop.wait()
                        await ws.aclose(1000)
                        nursery.cancel_scope.cancel()

                    if not bare:
                        nursery.start_soon(heartbeat)
                    nursery.start_soon(stopper)
                    while True:
                        raw = await ws.get_message()
                        if raw[:16] == '{"op":"HEARTBEA':
                            continue
                        msg = orjson.loads(raw)
                        t = msg.get("t", msg.get("op"))
                        counts[t] += 1
                        if t == "MESSAGE_CREATE":
                            content = msg["d"]["content"]
                            if content[:1].isdigit():
                                latencies.append(time.time() - float(content))
            except ConnectionClosed:
                closed += 1
            finally:
                with trio.move_on_after(5):
                    await ws_cm.__aexit__(None, None, None)
        except Exception as exc:  # noqa: BLE001 - a refused or dropped socket is counted
            counts["error:" + type(exc).__name__] += 1
            ready.append(float("nan"))
        finally:
            gone.release()

    async def main() -> None:
        nonlocal closed
        stop = trio.Event()
        gone = trio.Semaphore(0)
        opened = 0
        async with trio.open_nursery() as nursery:
            while True:
                line = (await trio.to_thread.run_sync(sys.stdin.readline)).strip()
                if line == "open":
                    stop = trio.Event()
                    ready: list[float] = []
                    limiter = trio.CapacityLimiter(64)
                    for token in tokens:
                        nursery.start_soon(client, token, limiter, ready, stop, gone)
                    opened = len(tokens)
                    with trio.move_on_after(300):
                        while len(ready) < len(tokens):
                            await trio.sleep(0.01)
                    ok = [t for t in ready if t == t]
                    reply: dict[str, Any] = {"first": min(ok, default=0), "last": max(ok, default=0),
                                             "failed": len(tokens) - len(ok)}
                elif line == "stats":
                    reply = {"counts": dict(counts), "latencies": latencies[:], "closed": closed}
                    counts.clear()
                    latencies.clear()
                    closed = 0
                elif line == "close":
                    stop.set()
                    with trio.move_on_after(120):
                        for _ in range(opened):
                            await gone.acquire()
                    reply = {"closed": opened}
                    opened = 0
                else:  # "exit" or EOF
                    stop.set()
                    nursery.cancel_scope.cancel()
                    return
                print(json.dumps(reply), flush=True)

    trio.run(main)


# -- orchestration helpers -----------------------------------------------------------------

class Proc:
    """A child process of this benchmark, spoken to line by line."""

    def __init__(self, *args: str, stdin_first: str | None = None) -> None:
        self.p = subprocess.Popen([sys.executable, str(Path(__file__)), *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        if stdin_first is not None:
            self.send(stdin_first)

    @property
    def pid(self) -> int:
        return self.p.pid

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def read(self) -> Any:
        assert self.p.stdout is not None
        return json.loads(self.p.stdout.readline())

    def ask(self, line: str) -> Any:
        self.send(line)
        return self.read()

    def stop(self) -> None:
        """End this child (ours, by its pid): ``exit`` for workers, SIGTERM for servers."""
        if self.p.poll() is None:
            try:
                self.send("exit")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.terminate()
                self.p.wait(30)


def start_server(*args: str) -> tuple[Proc, str]:
    server = Proc(*args)
    return server, server.read()["url"]


def start_workers(url: str, tokens: list[str], workers: int, bare: bool) -> list[Proc]:
    per = (len(tokens) + workers - 1) // workers
    return [Proc("--worker", url, "--bare" if bare else "--together",
                 stdin_first=json.dumps(tokens[i * per:(i + 1) * per])) for i in range(workers)]


def ask_all(procs: list[Proc], line: str) -> list[Any]:
    for p in procs:
        p.send(line)
    return [p.read() for p in procs]


def merged_stats(procs: list[Proc]) -> tuple[Counter[str], list[float], int]:
    counts: Counter[str] = Counter()
    lat: list[float] = []
    closed = 0
    for r in ask_all(procs, "stats"):
        counts.update(r["counts"])
        lat.extend(r["latencies"])
        closed += r["closed"]
    return counts, lat, closed


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, limit: float = 180.0) -> float:
    """Wait until ``pid`` is idle (< 5% CPU over 0.5 s); returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        before = cpu_s(pid)
        time.sleep(0.5)
        if cpu_s(pid) - before < 0.025:
            break
    return time.monotonic() - start


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def summary(lat: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in lat)
    if not ms:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"n": len(ms), "p50": statistics.median(ms), "p99": ms[max(0, int(len(ms) * 0.99) - 1)],
            "max": ms[-1]}


async def setup_server(url: str, users: int, prefix: str = "member") -> tuple[str, str, str, list[str]]:
    """Owner + server + channel, and ``users - 1`` members; returns (owner token, server id,
    channel id, every user's token, the owner's first)."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=120) as h:
        async def register(name: str) -> dict[str, Any]:
            r = await h.post("/auth/register", json={"username": name, "password": "correct horse"})
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]

        owner = await register(f"{prefix}owner")
        auth = {"Authorization": f"Bearer {owner['access_token']}"}
        srv = (await h.post("/servers", json={"name": "Bench"}, headers=auth)).json()
        chan = (await h.post(f"/servers/{srv['id']}/channels", json={"name": "general", "type": "text"},
                             headers=auth)).json()
        code = (await h.post(f"/servers/{srv['id']}/invites", json={}, headers=auth)).json()["code"]
        tokens: list[str] = [owner["access_token"]]
        limiter = trio.CapacityLimiter(16)

        async def member(i: int) -> None:
            async with limiter:
                body = await register(f"{prefix}{i}")
                r = await h.post(f"/invites/{code}/accept", headers={"Authorization": f"Bearer {body['access_token']}"})
                r.raise_for_status()
                tokens.append(body["access_token"])

        async with trio.open_nursery() as nursery:
            for i in range(users - 1):
                nursery.start_soon(member, i)
        return owner["access_token"], srv["id"], chan["id"], tokens


def main() -> None:
    raise_nofile()
    if sys.argv[1] == "--serve-together":
        serve_together(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "{}")
    elif sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]))
    elif sys.argv[1] == "--worker":
        worker(sys.argv[2], json.loads(sys.stdin.readline()), sys.argv[3] == "--bare")


if __name__ == "__main__":
    main()
