"""Sessions: resume, hold, limits and close codes (API.md §6.1, §6.5, §6.8; FIELD-CASES
F16, F19, F20, F22). Each test runs its own daemon with small limits and timeouts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from conftest import Api, Users, make_config
from test_gateway_client import WAIT, RawWs, connect, ws_url
from test_gateway_connect import refused
from trio_websocket import ConnectionClosed

from together_server.daemon import Running, run_daemon
from together_server.storage import accounts


async def start(nursery: trio.Nursery, tmp_path: Path, **sections: dict[str, Any]) -> tuple[Running, Users]:
    cfg = make_config(tmp_path / "data", **sections)
    running: Running = await nursery.start(lambda task_status: run_daemon(
        cfg, task_status=task_status, install_signal_handlers=False))
    return running, Users(running.url)


async def eventually(pred: Callable[[], bool]) -> None:
    """Wait (polling) until ``pred()`` holds; a ceiling against hangs, not a timing assertion."""
    with trio.fail_after(WAIT):
        while not pred():
            await trio.sleep(0.01)


@pytest.fixture
async def env(nursery: trio.Nursery, tmp_path: Path) -> Any:
    running, users = await start(nursery, tmp_path, gateway={"resume_window_seconds": 30.0})
    yield running, users
    await users.close()
    running.shutdown()


async def pair(users: Users) -> tuple[Api, Api, dict[str, Any], dict[str, Any]]:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Sessions")
    chan = await alice.channel(srv["id"])
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, srv, chan


async def test_resume_replays_exactly_what_was_missed(env: Any) -> None:
    running, users = env
    alice, bob, srv, chan = await pair(users)
    hub = running.state.hub
    async with connect(running.url, alice.token) as ga:
        await bob.send(chan["id"], "seen live")
        msg = await ga.until("MESSAGE_CREATE")
        sid, last = ga.session_id, ga.last_s
        assert msg[0]["d"]["content"] == "seen live"
        await ga.ws.aclose(code=4000)  # not 1000: the session is held
    await eventually(lambda: hub.get(sid) is not None and not hub.get(sid).attached)
    assert hub.is_online(alice.id)  # a held session counts
    missed = [(await bob.send(chan["id"], f"missed {i}"))["id"] for i in range(3)]
    async with connect(running.url, alice.token, session_id=sid, seq=last) as ga2:
        replay = [ga2.ready] + [await ga2.frame() for _ in range(3)]
        assert [m["t"] for m in replay] == ["MESSAGE_CREATE"] * 3 + ["RESUMED"]
        assert [m["d"]["id"] for m in replay[:3]] == missed
        assert [m["s"] for m in replay] == list(range(last + 1, last + 5))
        assert replay[3]["d"] == {"session_id": sid, "replayed": 3}
        # ...and the session carries on live, with the next s.
        await bob.send(chan["id"], "live again")
        m = await ga2.event("MESSAGE_CREATE")
        assert m["s"] == last + 5 and m["d"]["content"] == "live again"
        # Resuming again from an older seq replays the same frames with the same s.
        async with connect(running.url, alice.token, session_id=sid, seq=last + 1) as ga3:
            got = [ga3.ready] + [await ga3.frame() for _ in range(4)]
            assert [m["s"] for m in got] == list(range(last + 2, last + 7))
            assert got[-1]["t"] == "RESUMED" and got[-1]["d"]["replayed"] == 4
            with pytest.raises(ConnectionClosed) as info:  # the old socket: 4002
                while True:
                    await ga2.ws.get_message()
            assert info.value.reason.code == 4002


async def test_failed_resume_falls_back_to_ready(env: Any) -> None:
    running, users = env
    alice, bob, srv, chan = await pair(users)
    async with connect(running.url, alice.token) as ga:
        sid = ga.session_id
        await ga.ws.aclose(code=4000)
    cases: list[tuple[Api, dict[str, Any]]] = [
        (bob, {"session_id": sid, "seq": 1}),          # another user
        (alice, {"session_id": sid, "seq": 99}),       # seq beyond the last s
        (alice, {"session_id": sid, "seq": 0}),        # seq below 1
        (alice, {"session_id": "nope", "seq": 1}),     # unknown session
        (alice, {"session_id": sid, "seq": "x"}),      # malformed
    ]
    for api, params in cases:
        async with connect(running.url, api.token, **params) as gw:
            assert gw.ready.get("session_id") not in (None, sid), params
    # The real one still resumes (failed attempts did not consume it).
    async with connect(running.url, alice.token, session_id=sid, seq=1) as gw:
        if gw.ready["t"] != "RESUMED":
            await gw.until("RESUMED")
        await gw.ws.aclose(code=1000)
    # A client close with 1000 discards the session at once.
    async with connect(running.url, alice.token, session_id=sid, seq=2) as gw:
        assert gw.ready["session_id"] != sid


async def test_hold_expires_then_offline(nursery: trio.Nursery, tmp_path: Path) -> None:
    running, users = await start(nursery, tmp_path, gateway={"resume_window_seconds": 0.3})
    alice, bob, srv, chan = await pair(users)
    async with connect(running.url, bob.token) as gb:
        await gb.sync()
        async with connect(running.url, alice.token) as ga:
            sid = ga.session_id
            await gb.until("PRESENCE_UPDATE", lambda d: d["user_id"] == alice.id and d["status"] == "online")
            raw = await trio.to_thread.run_sync(lambda: RawWs.open(running.url, alice.token))
            await ga.ws.aclose(code=4000)
        await trio.to_thread.run_sync(raw.reset)  # F22: a TCP reset, no close frame
        msg, _ = await gb.until("PRESENCE_UPDATE", lambda d: d["user_id"] == alice.id)
        assert msg["d"]["status"] == "offline"
        assert not running.state.hub.is_online(alice.id)
        async with connect(running.url, alice.token, session_id=sid, seq=1) as ga2:
            assert ga2.ready["session_id"] != sid
    await users.close()
    running.shutdown()


async def test_revocations_close_with_4001(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """F16, F15: logout, refresh-token reuse, password change, bot token regeneration."""
    running, users = env
    alice = await users.new("alice")
    # logout
    async with connect(running.url, alice.token) as ga:
        r = await alice.post("/auth/logout", json={"refresh_token": alice.refresh_token}, auth=False)
        assert r.status_code == 204, r.text
        assert await ga.closed() == 4001
        sid = ga.session_id
    login = await users.anonymous().post("/auth/login", json={"username": alice.user["username"], "password": "correct horse"})
    assert login.status_code == 200
    tok, refresh = login.json()["access_token"], login.json()["refresh_token"]
    async with connect(running.url, tok, session_id=sid, seq=1) as ga:  # 4001 discarded it
        assert ga.ready["session_id"] != sid
    # refresh-token reuse (no grace, so the test need not wait 2 s)
    monkeypatch.setattr(accounts, "ROTATION_GRACE_SECONDS", 0.0)
    async with connect(running.url, tok) as ga:
        anon = users.anonymous()
        r = await anon.post("/auth/refresh", json={"refresh_token": refresh})
        assert r.status_code == 200
        r = await anon.post("/auth/refresh", json={"refresh_token": refresh})
        assert r.status_code == 401 and r.json()["code"] == "refresh_token_reused"
        assert await ga.closed() == 4001
    # password change: the other login's session closes, the caller's stays
    logins = []
    for _ in range(2):
        r = await users.anonymous().post("/auth/login", json={"username": alice.user["username"], "password": "correct horse"})
        logins.append(r.json()["access_token"])
    async with connect(running.url, logins[0]) as keep, connect(running.url, logins[1]) as other:
        r = await alice.post("/users/@me/password", json={"current_password": "correct horse", "new_password": "battery staple"},
                             headers={"Authorization": f"Bearer {logins[0]}"})
        assert r.status_code == 204, r.text
        assert await other.closed() == 4001
        assert await keep.sync() is not None  # still open
    # bot token regeneration
    owner = await users.new("owner")
    r = await owner.post("/bots", json={"name": "Helper"})
    assert r.status_code == 201, r.text
    bot_id, token = r.json()["bot"]["id"], r.json()["token"]
    async with connect(running.url, None, bot_token=token) as gbot:
        assert gbot.ready["user"]["is_bot"] is True
        r = await owner.post(f"/bots/{bot_id}/token/regenerate")
        assert r.status_code == 200
        assert await gbot.closed() == 4001


async def test_limits_frame_size_rate_and_session_count(env: Any) -> None:
    """F19 and §6.1: 1009 for a frame over the limit, exactly-the-limit accepted; frames
    past the per-second rate dropped; the sessions-per-user limit."""
    running, users = env
    alice = await users.new("alice")
    gcfg = running.state.config.gateway
    async with connect(running.url, alice.token) as ga:
        await ga.sync()
        pad = gcfg.max_frame_bytes - len('{"op":"HEARTBEAT","d":""}')
        exact = '{"op":"HEARTBEAT","d":"' + "x" * pad + '"}'
        assert len(exact.encode()) == gcfg.max_frame_bytes
        ga.backlog.clear()
        await ga.ws.send_message(exact)
        assert (await ga.frame())["op"] == "HEARTBEAT_ACK"
        # multi-byte text over the limit in bytes though not in characters
        wide = '{"op":"HEARTBEAT","d":"' + "é" * (pad // 2 + 10) + '"}'
        await ga.ws.send_message(wide)
        assert await ga.closed() == 1009
    async with connect(running.url, alice.token) as ga:
        huge = orjson.dumps({"op": "PRESENCE_UPDATE", "d": {"status": "dnd", "custom_status": "x" * 1_000_000}}).decode()
        try:
            await ga.ws.send_message(huge)
        except ConnectionClosed as exc:
            # the server closed with 1009 and dropped the socket while we were still
            # writing the rest of the 1 MB frame (it does not buffer what follows a close)
            assert exc.reason.code == 1009
        else:
            assert await ga.closed() == 1009
    r = await alice.get("/users/@me")
    assert r.json()["chosen_status"] == "online"  # nothing of it was applied
    # frame rate: a burst past the limit is dropped silently
    async with connect(running.url, alice.token) as ga:
        await ga.sync()
        ga.backlog.clear()
        await trio.sleep(1.05)  # a fresh rolling second
        burst = gcfg.max_frames_per_second + 10
        for _ in range(burst):
            await ga.send("HEARTBEAT")
        await trio.sleep(1.05)  # every frame of the burst has been handled by now
        r = await alice.patch("/users/@me", json={"bio": "after the burst"})  # a sentinel dispatch
        assert r.status_code == 200
        _, before = await ga.until("USER_UPDATE")
        acks = sum(m["op"] == "HEARTBEAT_ACK" for m in before)
        assert acks == gcfg.max_frames_per_second


async def test_sessions_per_user_limit(nursery: trio.Nursery, tmp_path: Path) -> None:
    """§6.1: a 4th session (limit 3) is refused with HTTP 400 unless one is held, which it replaces."""
    running, users = await start(nursery, tmp_path, limits={"gateway_sessions_per_user": 3})
    alice = await users.new("alice")
    hub = running.state.hub
    async with connect(running.url, alice.token) as a, connect(running.url, alice.token) as b, \
            connect(running.url, alice.token) as c:
        rej = await refused(ws_url(running.url, token=alice.token))
        assert rej.status_code == 400 and rej.json()["code"] == "limit_reached"
        await b.ws.aclose(code=4000)
        await eventually(lambda: not hub.get(b.session_id).attached)
        async with connect(running.url, alice.token) as d:
            assert hub.get(b.session_id) is None  # the oldest held one was discarded
            assert d.session_id and a.session_id and c.session_id
    await users.close()
    running.shutdown()


async def test_idle_timeout_closes_with_4009_and_may_resume(nursery: trio.Nursery, tmp_path: Path) -> None:
    running, users = await start(nursery, tmp_path, gateway={"idle_timeout_seconds": 0.3, "heartbeat_interval_ms": 100})
    alice = await users.new("alice")
    async with connect(running.url, alice.token) as ga:
        sid = ga.session_id
        assert await ga.closed() == 4009
    async with connect(running.url, alice.token, session_id=sid, seq=1) as ga:
        if ga.ready["t"] != "RESUMED":
            await ga.until("RESUMED")
    await users.close()
    running.shutdown()


async def test_stalled_reader_closed_with_4008_others_unaffected(nursery: trio.Nursery, tmp_path: Path) -> None:
    """F20: a client that never reads overflows its bounded queue (4008) while another
    client receives every message in commit order."""
    running, users = await start(nursery, tmp_path, gateway={"outgoing_queue_size": 16})
    alice, bob, srv, chan = await pair(users)
    hub = running.state.hub
    raw = await trio.to_thread.run_sync(lambda: RawWs.open(running.url, alice.token, rcvbuf=4096))
    posted: list[str] = []
    try:
        async with connect(running.url, bob.token) as gb:
            await gb.sync()
            body = "ü" * 4000  # 8 KB of UTF-8 per message
            while not hub.closes.get(4008) and len(posted) < 2000:
                posted.append((await alice.send(chan["id"], body))["id"])
            assert hub.closes.get(4008) == 1
            got: list[str] = []
            while len(got) < len(posted):
                m = await gb.event()
                if m["t"] == "MESSAGE_CREATE":
                    got.append(m["d"]["id"])
            assert got == posted
            assert hub.statistics()["held"] == 1
        # Once it reads, the stalled client finds what fitted in the socket buffers, then 4008.
        frames, code = await trio.to_thread.run_sync(raw.read_until_close)
        assert code == 4008
        assert len(frames) < len(posted)
    finally:
        raw.close()
    await users.close()
    running.shutdown()


async def test_client_close_while_server_sends(env: Any) -> None:
    """F22: a close frame (1000) in the middle of a burst; all posts succeed, the session
    leaves, bob sees alice go offline exactly once."""
    running, users = env
    alice, bob, srv, chan = await pair(users)
    async with connect(running.url, bob.token) as gb:
        await gb.sync()
        statuses: list[int] = []
        async with connect(running.url, alice.token) as ga:
            await gb.until("PRESENCE_UPDATE", lambda d: d["user_id"] == alice.id)

            async def burst() -> None:
                for i in range(200):
                    statuses.append((await bob.post(f"/channels/{chan['id']}/messages", json={"content": f"m{i}"})).status_code)

            async with trio.open_nursery() as n:
                n.start_soon(burst)
                await ga.until("MESSAGE_CREATE")
                await ga.ws.aclose(code=1000)
        assert statuses == [201] * 200
        offline = 0
        seen = 0
        while seen < 200:
            m = await gb.event()
            seen += m["t"] == "MESSAGE_CREATE"
            offline += m["t"] == "PRESENCE_UPDATE" and m["d"] == {
                "user_id": alice.id, "status": "offline", "custom_status": None, "activity": None}
        await bob.patch("/users/@me", json={"bio": "end"})
        _, tail = await gb.until("USER_UPDATE")
        offline += sum(1 for m in tail if m.get("t") == "PRESENCE_UPDATE" and m["d"]["status"] == "offline")
        assert offline == 1
        assert not running.state.hub.is_online(alice.id)


async def test_shutdown_closes_with_1001(nursery: trio.Nursery, tmp_path: Path) -> None:
    running, users = await start(nursery, tmp_path)
    alice = await users.new("alice")
    async with connect(running.url, alice.token) as ga:
        running.shutdown()
        assert await ga.closed() == 1001
    await users.close()
