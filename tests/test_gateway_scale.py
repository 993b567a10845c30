"""Many sessions (issue 15 §1, §2): connect/disconnect presence is coalesced and sent once
per receiving session; ended sessions leave nothing in the hub and are freed.

Each test runs its own daemon with the default presence window (250 ms) and, for the
memory test, a 1-second resume window.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import trio
from conftest import Api, Users
from test_gateway_client import WAIT, Gw, connect
from test_gateway_events import seen_before_sentinel
from test_gateway_sessions import eventually, start
from trio_websocket import open_websocket_url

WINDOW = 0.25  # gateway.presence_window_ms default, in seconds


async def group(users: Users, n: int) -> tuple[list[Api], dict[str, Any]]:
    """``n`` users in one server (the first owns it)."""
    apis = [await users.new(f"scale{i}") for i in range(n)]
    srv = await apis[0].server("Scale")
    for api in apis[1:]:
        await apis[0].invite_and_join(srv["id"], api)
    return apis, srv


def presences(msgs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["d"]["user_id"], m["d"]["status"]) for m in msgs if m.get("t") == "PRESENCE_UPDATE"]


async def quiet(gw: Gw, api: Api, window: float = WINDOW) -> list[dict[str, Any]]:
    """Dispatches before a sentinel sent after the presence window has surely passed."""
    await trio.sleep(max(0.6, window * 2))
    return await seen_before_sentinel(gw, api)


async def test_presence_once_per_receiver_and_not_to_later_sessions(nursery: trio.Nursery, tmp_path: Path) -> None:
    running, users = await start(nursery, tmp_path, gateway={"presence_window_ms": 250})
    (alice, bob, carol), _ = await group(users, 3)
    async with connect(running.url, bob.token) as gb:
        await quiet(gb, bob)
        # alice opens three sessions at once: bob hears "online" once.
        async with connect(running.url, alice.token) as ga1, connect(running.url, alice.token) as ga2, \
                connect(running.url, alice.token) as ga3:
            assert presences(await quiet(gb, bob)) == [(alice.id, "online")]
            # carol connects after alice came online: her READY-time view is current,
            # so she is not told about alice; bob hears carol once.
            async with connect(running.url, carol.token) as gc_:
                assert presences(await quiet(gb, bob)) == [(carol.id, "online")]
                assert presences(await quiet(gc_, carol)) == []
                for gw in (ga1, ga2, ga3):  # alice's own sessions are not told about herself
                    assert (alice.id, "online") not in presences(await quiet(gw, alice))
                await ga1.ws.aclose(1000)
                await ga2.ws.aclose(1000)
                assert presences(await quiet(gb, bob)) == []  # alice still has a session
                await ga3.ws.aclose(1000)
                assert presences(await quiet(gb, bob)) == [(alice.id, "offline")]
                assert presences(await quiet(gc_, carol)) == [(alice.id, "offline")]
                stats = running.state.hub.statistics()
                assert stats["presence_pending"] == 0 and stats["presence_announced"] == 7  # alice->bob, carol->bob and alice x3, offline->bob, carol
    await users.close()
    running.shutdown()


async def test_presence_flap_inside_the_window_is_not_sent(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Online and offline again inside one window (1.2 s here): nothing changed for others."""
    running, users = await start(nursery, tmp_path, gateway={"presence_window_ms": 1200})
    (alice, bob), _ = await group(users, 2)
    async with connect(running.url, bob.token) as gb:
        await quiet(gb, bob, 1.2)
        async with connect(running.url, alice.token) as ga:
            await ga.ws.aclose(1000)
        assert presences(await quiet(gb, bob, 1.2)) == []
        async with connect(running.url, alice.token):
            assert presences(await quiet(gb, bob, 1.2)) == [(alice.id, "online")]
    await users.close()
    running.shutdown()


async def test_connect_storm_sends_one_presence_per_user_and_session(nursery: trio.Nursery, tmp_path: Path) -> None:
    """8 users x 4 sessions at once: every session sees each other user online at most
    once, and the total is below one per (session, other user)."""
    running, users = await start(nursery, tmp_path, gateway={"presence_window_ms": 250})
    apis, _ = await group(users, 8)
    seen: dict[int, list[tuple[str, str]]] = {}

    async def session(i: int, api: Api, go: trio.Event, done: trio.Event) -> None:
        async with connect(running.url, api.token) as gw:
            await go.wait()
            got = await quiet(gw, api)
            seen[i] = presences(got)
            await done.wait()

    go, done = trio.Event(), trio.Event()
    async with trio.open_nursery() as n:
        for i in range(32):
            n.start_soon(session, i, apis[i % 8], go, done)
        await eventually(lambda: running.state.hub.statistics()["attached"] == 32)
        go.set()
        await eventually(lambda: len(seen) == 32)
        done.set()
    total = 0
    for i, got in seen.items():
        mine = apis[i % 8].id
        assert len(got) == len(set(got)), got  # no duplicate
        assert all(status == "online" and uid != mine for uid, status in got), got
        total += len(got)
    assert total < 32 * 7
    await users.close()
    running.shutdown()


async def test_closed_sessions_leave_no_state(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Cycles of 200 sessions (20 users x 10) closed with 1000, 4000 (held, then the
    1-second resume window runs out) or a dropped TCP connection: afterwards the hub
    indexes are empty and every Session and Attachment object has been freed."""
    running, users = await start(nursery, tmp_path, gateway={"resume_window_seconds": 1.0})
    apis, srv = await group(users, 20)
    chan = await apis[0].channel(srv["id"])
    hub = running.state.hub
    url = running.url.replace("http://", "ws://")
    for cycle in range(3):
        refs: list[weakref.ref[Any]] = []
        go = trio.Event()

        async def one(i: int, api: Api, go: trio.Event = go) -> None:
            with trio.fail_after(3 * WAIT), trio.CancelScope() as dropped:  # a hang ceiling
                async with open_websocket_url(f"{url}/ws?token={api.token}") as ws:
                    await ws.get_message()  # READY
                    await go.wait()
                    if i % 3 == 0:
                        await ws.aclose(1000)
                    elif i % 3 == 1:
                        await ws.aclose(4000)
                    else:  # the TCP connection just drops (no close frame)
                        await ws._stream.aclose()  # noqa: SLF001
                        dropped.cancel()  # trio-websocket would wait for a close that never comes

        async with trio.open_nursery() as n:
            for i in range(200):
                n.start_soon(one, i, apis[i % 20])
            await eventually(lambda: hub.statistics()["attached"] == 200)
            refs = [weakref.ref(s) for s in hub.all_sessions()]
            refs += [weakref.ref(s.attachment) for s in hub.all_sessions() if s.attachment is not None]
            await apis[cycle].send(chan["id"], f"cycle {cycle}")  # something in every buffer
            go.set()
        # Held sessions end when the 1-second window runs out; the presence announcer
        # flushes its last offline transitions: then every index is empty.
        with trio.move_on_after(WAIT):
            while any(hub.retained().values()):
                await trio.sleep(0.05)
        assert not any(hub.retained().values()), hub.retained()
        assert not any(hub.is_online(a.id) for a in apis)
        gc.collect()
        alive = [r() for r in refs if r() is not None]
        assert alive == [], f"cycle {cycle}: {len(alive)} objects of closed sessions still alive: {alive[:3]}"
    assert hub.reclaimer.collections >= 1  # bursts of closes were reclaimed by the hub itself
    await users.close()
    running.shutdown()
