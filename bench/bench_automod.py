"""Cost of automod on POST /channels/:id/messages: 200 blocked words vs automod off, same run.

Two daemons run side by side as subprocesses (``together-server serve``), identical but for
the test server's automod settings: on "on", automod is enabled with 200 blocked entries
(150 single words, 30 phrases, 20 in unspaced scripts: 日本語/ไทย) and the invite, link and
mention rules; on "off" automod is off. A member without MANAGE_MESSAGES posts (the owner
would be exempt), cycling through real chat lines (../shared/data, English and
international) that trip no rule, so every request pays the full check and then posts.
A light raw-socket HTTP/1.1 client (keep-alive, ``--connections`` at once) alternates rounds
so drift in machine load hits both alike. Reported: requests/s per round, the median, the
ratio on/off and the in-process cost of the check. Goal: automod costs ≤ 5 %.

Run: .venv/bin/python bench/bench_automod.py [--rounds 6] [--seconds 3] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ratelimit_http import ROOT, free_port, read_response  # noqa: E402

SHARED = Path(os.environ.get("TOGETHER_SHARED", ROOT.parent / "shared")) / "data"


def blocked_words() -> list[str]:
    rng = random.Random(13)
    letters = "bcdfghjklmnpqrstvwxz"

    def word(n: int) -> str:
        return "".join(rng.choice(letters) for _ in range(n))
    singles = [f"{word(5)}q" for _ in range(150)]
    phrases = [f"{word(4)}q {word(5)}q" for _ in range(30)]
    cjk = [f"禁止{i}号词" for i in range(10)] + [f"คำต้องห้าม{i}" for i in range(10)]
    return singles + phrases + cjk


def start(tmp: Path, name: str) -> tuple[Any, int]:
    import subprocess

    port = free_port()
    cfg = tmp / f"{name}.toml"
    cfg.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{tmp / name}"\n'
        "[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n[ratelimit]\nenabled = false\n"
        '[logging]\nlevel = "warning"\n')
    proc = subprocess.Popen([sys.executable, "-m", "together_server", "serve", "--config", str(cfg)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"daemon {name} did not start")


def call(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None, headers=headers)
    with urllib.request.urlopen(req) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def setup(port: int, automod: bool) -> tuple[str, str]:
    """Owner + server + channel, a plain member who posts; returns (member token, channel id)."""
    owner = call(port, "POST", "/auth/register", {"username": "owner", "password": "correct horse"})["access_token"]
    sid = call(port, "POST", "/servers", {"name": "bench"}, owner)["id"]
    cid = call(port, "POST", f"/servers/{sid}/channels", {"name": "general", "type": "text"}, owner)["id"]
    code = call(port, "POST", f"/servers/{sid}/invites", {}, owner)["code"]
    member = call(port, "POST", "/auth/register", {"username": "poster", "password": "correct horse"})["access_token"]
    call(port, "POST", f"/invites/{code}/accept", {}, member)
    if automod:
        call(port, "PATCH", f"/servers/{sid}/automod", {
            "enabled": True, "word_filter_enabled": True, "invite_filter_enabled": True,
            "link_filter_enabled": False, "mention_enabled": True, "mention_max": 20}, owner)
        for w in blocked_words():
            call(port, "POST", f"/servers/{sid}/automod/words", {"word": w}, owner)
        assert len(call(port, "GET", f"/servers/{sid}/automod/words", None, owner)) == 200
    return member, cid


def corpus(n: int = 2000) -> list[str]:
    lines: list[str] = []
    for name in ("chat-lines-en.txt", "chat-lines-intl.txt"):
        path = SHARED / name
        if path.exists():
            lines += [x for x in path.read_text(encoding="utf-8").splitlines()[: n // 2] if "://" not in x]
    if not lines:
        raise SystemExit(f"corpus not found under {SHARED} (set TOGETHER_SHARED)")
    return lines


def requests(port: int, token: str, cid: str, lines: list[str]) -> list[bytes]:
    out = []
    for text in lines:
        body = json.dumps({"content": text[:4000]}).encode()
        out.append((f"POST /channels/{cid}/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    return out


async def run_round(port: int, reqs: list[bytes], seconds: float, connections: int) -> float:
    done = 0
    stop_at = trio.current_time() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        buf = bytearray()
        i = k
        async with stream:
            while trio.current_time() < stop_at:
                await stream.send_all(reqs[i % len(reqs)])
                head = await read_response(stream, buf)
                if not head.startswith(b"HTTP/1.1 201"):
                    raise RuntimeError(head.decode(errors="replace"))
                done += 1
                i += connections

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for k in range(connections):
            nursery.start_soon(worker, k)
    return done / (trio.current_time() - started)


async def bench(args: argparse.Namespace, ports: dict[str, int], reqs: dict[str, list[bytes]]) -> dict[str, list[float]]:
    for name in ("on", "off"):
        await run_round(ports[name], reqs[name], 0.5, args.connections)
    rates: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(args.rounds):
        for name in (("on", "off") if i % 2 == 0 else ("off", "on")):
            rates[name].append(await run_round(ports[name], reqs[name], args.seconds, args.connections))
    return rates


def check_cost_us(lines: list[str]) -> float:
    """Microseconds per message of ``automod.check``'s content rules with the 200 entries,
    in process (the matcher alone, no SQL)."""
    sys.path.insert(0, str(ROOT))
    from together_server.storage.automod import Matcher, fold_text

    m = Matcher.build([(w, " ".join(fold_text(w).split())) for w in blocked_words()])
    assert not any(m.find(x) for x in lines)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for x in lines:
            m.find(x)
        best = min(best, (time.perf_counter() - t0) / len(lines) * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    lines = corpus()
    procs = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            ports, reqs = {}, {}
            for name in ("on", "off"):
                proc, port = start(tmp, name)
                procs.append(proc)
                ports[name] = port
                token, cid = setup(port, automod=name == "on")
                reqs[name] = requests(port, token, cid, lines)
            rates = trio.run(bench, args, ports, reqs)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"POST /channels/:id/messages by a plain member, {len(lines)} real chat lines (en + intl), "
          f"{args.connections} keep-alive connections, {args.rounds} rounds x {args.seconds:g} s, alternating;"
          " shared 2-core machine")
    print(f"{'round':>5} | {'automod on req/s':>16} | {'automod off req/s':>17}")
    for i, (on, off) in enumerate(zip(rates["on"], rates["off"], strict=True)):
        print(f"{i + 1:>5} | {on:>16.0f} | {off:>17.0f}")
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    print(f"{'median':>5} | {on:>16.0f} | {off:>17.0f}")
    print(f"ratio on/off (median): {on / off:.3f}  -> automod cost {100 * (1 - on / off):+.1f}% (goal <= 5%)")
    us = check_cost_us(lines)
    print(f"word matcher in process (200 entries): {us:.2f} us/message = {100 * us / (1e6 / off):.2f}% of the"
          f" server's time per request at {off:.0f} req/s")


if __name__ == "__main__":
    main()
