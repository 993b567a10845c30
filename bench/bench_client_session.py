"""Requests per second of a Together web client session, and the 429s each rate-limit setting gives.

The Together reference web client (clients/web/src in jtjenkins/Together) opens a channel
with one ``GET …/messages?limit=50``, then, for every message shown, ``GET
/messages/:id/attachments`` (messageStore.fetchMessages) and ``GET …/reactions``
(MessageItem on mount), all at once; opening a server first loads its channels, members,
roles and custom emoji. This replays exactly that request pattern over real HTTP, as a
browser would (6 connections per host, every request of a step in flight together, the
next step as soon as the last answer is in), for one user:

1. start-up: ``/users/@me``, ``/servers``, ``/dm-channels``;
2. switch through 3 servers quickly (each: 4 server lists, open its busiest channel, ack);
3. scroll back twice in the last channel (older pages of 50);
4. switch between two channels 4 times, 1 s apart (reading a little);

and then a flood (8 connections sending ``GET /users/@me`` as fast as they can, 5 s).
Each scenario runs against a fresh daemon with the given ``user`` bucket; reported: the
session's requests, its busiest second, its 429s, and the flood's accepted rate and 429s.

Run: .venv/bin/python bench/bench_client_session.py [--messages 120]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from together_server.config import structure_config
from together_server.daemon import run_daemon

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "chat-lines-en.txt"
CONNECTIONS = 6  # what a browser opens per host over HTTP/1.1


class Session:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.log: list[tuple[float, int]] = []

    async def get(self, path: str) -> httpx.Response:
        r = await self.client.get(path)
        self.log.append((time.monotonic(), r.status_code))
        return r

    async def post(self, path: str) -> httpx.Response:
        r = await self.client.post(path)
        self.log.append((time.monotonic(), r.status_code))
        return r

    async def all(self, paths: list[str]) -> list[httpx.Response]:
        out: list[httpx.Response] = []

        async def one(p: str) -> None:
            out.append(await self.get(p))
        async with trio.open_nursery() as n:
            for p in paths:
                n.start_soon(one, p)
        return out

    async def open_server(self, sid: str, cid: str) -> None:
        await self.all([f"/servers/{sid}/channels", f"/servers/{sid}/members", f"/servers/{sid}/roles",
                        f"/servers/{sid}/emojis"])
        await self.open_channel(cid)

    async def open_channel(self, cid: str, before: str | None = None) -> str | None:
        q = "?limit=50" + (f"&before={before}" if before else "")
        r = await self.get(f"/channels/{cid}/messages{q}")
        msgs = r.json() if r.status_code == 200 else []
        paths = [f"/messages/{m['id']}/attachments" for m in msgs]
        paths += [f"/channels/{cid}/messages/{m['id']}/reactions" for m in msgs]
        await self.all(paths)
        if before is None:
            await self.post(f"/channels/{cid}/ack")
        return msgs[-1]["id"] if msgs else None


async def setup(base: str, n_messages: int) -> tuple[str, list[tuple[str, list[str]]]]:
    lines = [ln for ln in CORPUS.read_text(encoding="utf-8").splitlines() if ln.strip()][:2000]
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        r = await c.post("/auth/register", json={"username": "reader", "password": "correct horse"})
        token = r.json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        servers = []
        for s in range(3):
            sid = (await c.post("/servers", json={"name": f"S{s}"}, headers=h)).json()["id"]
            chans = []
            for k in range(2):
                cid = (await c.post(f"/servers/{sid}/channels", json={"name": f"c{k}", "type": "text"},
                                    headers=h)).json()["id"]
                for i in range(n_messages):
                    await c.post(f"/channels/{cid}/messages", json={"content": lines[(s * 7 + k * 3 + i) % len(lines)]},
                                 headers=h)
                chans.append(cid)
            servers.append((sid, chans))
    return token, servers


async def scenario(capacity: int, refill: float, n_messages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = structure_config({
            "server": {"host": "127.0.0.1", "port": 0, "data_dir": tmp},
            "auth": {"argon2_memory_kib": 64, "argon2_time_cost": 1},
            "logging": {"level": "warning"},
            "ratelimit": {"user": {"capacity": 1_000_000, "refill_per_second": 1_000_000.0}},
        })
        async with trio.open_nursery() as nursery:
            running = await nursery.start(lambda task_status: run_daemon(
                cfg, task_status=task_status, install_signal_handlers=False))
            token, servers = await setup(running.url, n_messages)
            running.shutdown()
        # same data, now with the bucket under test
        cfg = structure_config({
            "server": {"host": "127.0.0.1", "port": 0, "data_dir": tmp},
            "auth": {"argon2_memory_kib": 64, "argon2_time_cost": 1},
            "logging": {"level": "warning"},
            "ratelimit": {"user": {"capacity": capacity, "refill_per_second": refill}},
        })
        async with trio.open_nursery() as nursery:
            running = await nursery.start(lambda task_status: run_daemon(
                cfg, task_status=task_status, install_signal_handlers=False))
            limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
            async with httpx.AsyncClient(base_url=running.url, timeout=60, limits=limits,
                                         headers={"Authorization": f"Bearer {token}"}) as client:
                s = Session(client)
                t0 = time.monotonic()
                await s.all(["/users/@me", "/servers", "/dm-channels"])
                for sid, chans in servers:
                    await s.open_server(sid, chans[0])
                sid, chans = servers[-1]
                cursor = None
                r = await s.get(f"/channels/{chans[0]}/messages?limit=50")
                cursor = r.json()[-1]["id"] if r.status_code == 200 and r.json() else None
                for _ in range(2):
                    cursor = await s.open_channel(chans[0], before=cursor) if cursor else None
                for k in range(4):
                    await trio.sleep(1.0)
                    await s.open_channel(chans[k % 2])
                took = time.monotonic() - t0
                times = [t for t, _ in s.log]
                busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
                refused = sum(1 for _, st in s.log if st == 429)
                await trio.sleep(capacity / refill if refill else 0)  # let the bucket fill again
                flood = Session(client)
                end = time.monotonic() + 5.0

                async def hammer() -> None:
                    while time.monotonic() < end:
                        await flood.get("/users/@me")
                async with trio.open_nursery() as n:
                    for _ in range(8):
                        n.start_soon(hammer)
                ok = sum(1 for _, st in flood.log if st == 200)
                flood_429 = sum(1 for _, st in flood.log if st == 429)
            running.shutdown()
    return {"requests": len(s.log), "seconds": took, "busiest_second": busiest, "session_429": refused,
            "flood_ok_per_s": ok / 5.0, "flood_429": flood_429, "flood_total": len(flood.log)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=120, help="messages per channel (>= 50 for full pages)")
    args = ap.parse_args()
    rows = []
    for name, cap, refill in (("old default", 30, 15.0), ("new default", 600, 100.0)):
        rows.append((name, cap, refill, await scenario(cap, refill, args.messages)))
    print("| user bucket | session requests | session s | busiest second | session 429s | flood accepted req/s | flood 429s |")
    print("|---|---|---|---|---|---|---|")
    for name, cap, refill, r in rows:
        print(f"| {name}: {cap} burst, {refill:g}/s | {r['requests']} | {r['seconds']:.1f} | {r['busiest_second']} |"
              f" {r['session_429']} | {r['flood_ok_per_s']:.0f} | {r['flood_429']} of {r['flood_total']} |")


if __name__ == "__main__":
    trio.run(main)
