"""Cost of the HTTP rate limiter and its headers: GET /users/@me, limits on vs off, same run.

Two daemons run side by side as subprocesses (``together-server serve``), identical but for
``ratelimit.enabled`` (the "on" one has buckets too large to ever refuse, so every request
pays for the bucket choice, ``take()`` and three headers). A light raw-socket HTTP/1.1 client
(keep-alive, ``--connections`` at once) sends the same request to each, alternating rounds
so drift in machine load hits both alike. Reported: requests/s per round, the median, and
the ratio on/off. Goal: the limiter costs < 5% (ratio > 0.95).

Run: /work/main/.venv/bin/python bench/bench_ratelimit_http.py [--rounds 5] [--seconds 2] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
PATH = "/users/@me"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_daemon(tmp: Path, name: str, enabled: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    big = {"capacity": 1_000_000_000, "refill_per_second": 1_000_000.0}
    sections = [
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{tmp / name}"\n',
        "[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n",
        f"[ratelimit]\nenabled = {'true' if enabled else 'false'}\n",
        *(f"[ratelimit.{b}]\ncapacity = {big['capacity']}\nrefill_per_second = {big['refill_per_second']}\n"
          for b in ("auth", "user", "bot", "ip")),
        '[logging]\nlevel = "warning"\n',
    ]
    cfg = tmp / f"{name}.toml"
    cfg.write_text("\n".join(sections))
    proc = subprocess.Popen(
        [sys.executable, "-m", "together_server", "serve", "--config", str(cfg)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"daemon {name} did not start")


def register(port: int) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/register", method="POST",
        data=json.dumps({"username": "bencher", "password": "correct horse"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        return str(json.load(resp)["access_token"])


def request_bytes(port: int, token: str) -> bytes:
    return (f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()


async def read_response(stream: trio.SocketStream, buf: bytearray) -> bytes:
    """One response's head (the body is read and dropped); ``buf`` keeps leftovers."""
    while b"\r\n\r\n" not in buf:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    while len(buf) < end + length:
        buf += await stream.receive_some(65536)
    del buf[: end + length]
    return head


async def run_round(port: int, req: bytes, seconds: float, connections: int) -> float:
    done = 0
    stop_at = trio.current_time() + seconds

    async def worker() -> None:
        nonlocal done
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        buf = bytearray()
        async with stream:
            while trio.current_time() < stop_at:
                await stream.send_all(req)
                head = await read_response(stream, buf)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.decode(errors="replace"))
                done += 1

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(worker)
    return done / (trio.current_time() - started)


async def check_headers(port: int, req: bytes, expect: bool) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(req)
        head = (await read_response(stream, bytearray())).lower()
    assert (b"x-ratelimit-limit:" in head) == expect, head


async def bench(args: argparse.Namespace, ports: dict[str, int], reqs: dict[str, bytes]) -> dict[str, list[float]]:
    await check_headers(ports["on"], reqs["on"], True)
    await check_headers(ports["off"], reqs["off"], False)
    for name in ("on", "off"):  # warm-up
        await run_round(ports[name], reqs[name], 0.5, args.connections)
    rates: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(args.rounds):
        order = ("on", "off") if i % 2 == 0 else ("off", "on")
        for name in order:
            rates[name].append(await run_round(ports[name], reqs[name], args.seconds, args.connections))
    return rates


def pipeline_cost_us(n: int = 100_000) -> float:
    """Microseconds per request of the limiter's pipeline step alone (bucket choice, take,
    header list), in process: a noise-free bound to set against the measured request time."""
    sys.path.insert(0, str(ROOT))
    from types import SimpleNamespace

    from together_server.api import limiting
    from together_server.auth.request import Caller
    from together_server.config import structure_config

    st = SimpleNamespace(config=structure_config({}))
    limiting.build_limiters(st)  # type: ignore[arg-type]
    who = Caller("0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d", "bencher", False, sid="s")
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            ip = limiting.peer_ip(st, "127.0.0.1", [])  # type: ignore[arg-type]
            headers, _refusal = limiting.check(st, auth_route=False, who=who, ip=ip)  # type: ignore[arg-type]
            st.limiters.user._full_at.clear()  # stay under capacity: measure the allowed path
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    procs = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            ports, reqs = {}, {}
            for name, enabled in (("on", True), ("off", False)):
                proc, port = start_daemon(tmp, name, enabled)
                procs.append(proc)
                ports[name] = port
                reqs[name] = request_bytes(port, register(port))
            rates = trio.run(bench, args, ports, reqs)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"GET {PATH}, {args.connections} keep-alive connections, {args.rounds} rounds x {args.seconds:g} s each, alternating")
    print(f"{'round':>5} | {'limits on req/s':>15} | {'limits off req/s':>16}")
    for i, (on, off) in enumerate(zip(rates["on"], rates["off"], strict=True)):
        print(f"{i + 1:>5} | {on:>15.0f} | {off:>16.0f}")
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    print(f"{'median':>5} | {on:>15.0f} | {off:>16.0f}")
    print(f"ratio on/off (median): {on / off:.3f}  -> limiter cost {100 * (1 - on / off):+.1f}% (goal < 5%)")
    us = pipeline_cost_us()
    per_request_us = 1e6 / off * args.connections  # time one connection waits per request
    print(f"limiter step in process: {us:.2f} us/request = {100 * us / (1e6 / off):.2f}% of the"
          f" server's time per request at {off:.0f} req/s ({per_request_us / 1000:.1f} ms latency)")


if __name__ == "__main__":
    main()
