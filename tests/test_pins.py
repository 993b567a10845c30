"""Pins (API.md §4.10, Message pinned fields §1.8, MESSAGE_PIN / MESSAGE_UNPIN §6.7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from conftest import Api, Users, make_config
from test_dms import sql

from together_server import permissions as p
from together_server.clock import ts_after_seconds
from together_server.daemon import Running, run_daemon


def pin_path(channel_id: str, message_id: str) -> str:
    return f"/channels/{channel_id}/messages/{message_id}/pin"


async def setup(users: Users) -> tuple[Api, Api, dict[str, Any]]:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Pins")
    chan = await alice.channel(srv["id"])
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, chan


async def test_pin_list_unpin(users: Users, record: Any) -> None:
    alice, bob, chan = await setup(users)
    c = chan["id"]
    msgs = [await bob.send(c, f"m{i}") for i in range(3)]
    assert all(m["pinned"] is False and m["pinned_by"] is None and m["pinned_at"] is None for m in msgs)
    ra, rb = record(alice), record(bob)
    for m in (msgs[1], msgs[0], msgs[2]):
        r = await alice.post(pin_path(c, m["id"]))
        assert r.status_code == 204 and r.content == b""
    assert rb.of("MESSAGE_PIN")[0] == {"message_id": msgs[1]["id"], "channel_id": c, "pinned_by": alice.id}
    assert len(ra.of("MESSAGE_PIN")) == 3 and len(rb.of("MESSAGE_PIN")) == 3
    assert (await alice.post(pin_path(c, msgs[0]["id"]))).status_code == 204  # again: no event
    assert len(rb.of("MESSAGE_PIN")) == 3
    pinned = (await bob.get(f"/channels/{c}/pinned-messages")).json()
    assert [m["id"] for m in pinned] == [msgs[2]["id"], msgs[0]["id"], msgs[1]["id"]]
    assert all(m["pinned"] and m["pinned_by"] == alice.id and m["pinned_at"] for m in pinned)
    assert pinned[0]["reactions"] == [] and pinned[0]["content"] == "m2"
    got = (await bob.get(f"/channels/{c}/messages/{msgs[0]['id']}")).json()
    assert got["pinned"] is True and got["pinned_by"] == alice.id
    assert (await alice.delete(pin_path(c, msgs[0]["id"]))).status_code == 204
    assert rb.of("MESSAGE_UNPIN") == [{"message_id": msgs[0]["id"], "channel_id": c, "unpinned_by": alice.id}]
    r = await alice.delete(pin_path(c, msgs[0]["id"]))
    assert (r.status_code, r.json()["code"]) == (404, "not_pinned")
    got = (await bob.get(f"/channels/{c}/messages/{msgs[0]['id']}")).json()
    assert (got["pinned"], got["pinned_by"], got["pinned_at"]) == (False, None, None)
    assert [m["id"] for m in (await bob.get(f"/channels/{c}/pinned-messages")).json()] == [
        msgs[2]["id"], msgs[1]["id"]]
    # a deleted pinned message leaves the list
    assert (await alice.delete(f"/messages/{msgs[2]['id']}")).status_code == 204
    assert [m["id"] for m in (await bob.get(f"/channels/{c}/pinned-messages")).json()] == [msgs[1]["id"]]


async def test_pin_permissions_and_lookups(users: Users, shared: Running) -> None:
    alice, bob, chan = await setup(users)
    stranger = await users.new("stranger")
    c = chan["id"]
    m = await alice.send(c, "pin me")
    other = await alice.channel(chan["server_id"], "other")
    r = await bob.post(pin_path(c, m["id"]))
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    r = await bob.delete(pin_path(c, m["id"]))
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    for api, path, code in (
        (stranger, pin_path(c, m["id"]), "unknown_channel"),
        (alice, pin_path(other["id"], m["id"]), "unknown_message"),
        (alice, pin_path(c, "01900000-0000-7000-8000-000000000000"), "unknown_message"),
        (alice, pin_path(c, "nope"), "unknown_message"),
        (alice, pin_path("nope", m["id"]), "unknown_channel"),
    ):
        r = await api.post(path)
        assert (r.status_code, r.json()["code"]) == (404, code), path
    r = await stranger.get(f"/channels/{c}/pinned-messages")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    assert (await bob.get(f"/channels/{c}/pinned-messages")).json() == []
    # MANAGE_MESSAGES through a role is enough
    role = "01900000-0000-7000-8000-0000000000d1"
    sql(shared, "INSERT INTO roles (id, server_id, name, permissions, position, created_at) VALUES (?, ?, 'mod', ?, 1, ?)",
        (role, chan["server_id"], int(p.Permission.MANAGE_MESSAGES), ts_after_seconds(0)))
    sql(shared, "INSERT INTO member_roles (server_id, user_id, role_id) VALUES (?, ?, ?)", (chan["server_id"], bob.id, role))
    assert (await bob.post(pin_path(c, m["id"]))).status_code == 204
    assert (await bob.get(f"/channels/{c}/pinned-messages")).json()[0]["pinned_by"] == bob.id


async def test_pin_limit_ignores_deleted(nursery: trio.Nursery, tmp_path: Path) -> None:
    running: Running = await nursery.start(lambda task_status: run_daemon(
        make_config(tmp_path / "data", limits={"pins_per_channel": 3}),
        task_status=task_status, install_signal_handlers=False))
    users = Users(running.url)
    try:
        alice = await users.new("alice")
        srv = await alice.server("Small")
        c = (await alice.channel(srv["id"]))["id"]
        msgs = [await alice.send(c, f"m{i}") for i in range(5)]
        for m in msgs[:3]:
            assert (await alice.post(pin_path(c, m["id"]))).status_code == 204
        r = await alice.post(pin_path(c, msgs[3]["id"]))
        assert (r.status_code, r.json()["code"]) == (400, "limit_reached")
        assert (await alice.post(pin_path(c, msgs[0]["id"]))).status_code == 204  # already pinned: fine
        assert (await alice.delete(f"/messages/{msgs[0]['id']}")).status_code == 204
        assert (await alice.post(pin_path(c, msgs[3]["id"]))).status_code == 204
        r = await alice.post(pin_path(c, msgs[4]["id"]))
        assert (r.status_code, r.json()["code"]) == (400, "limit_reached")
        assert (await alice.delete(pin_path(c, msgs[1]["id"]))).status_code == 204
        assert (await alice.post(pin_path(c, msgs[4]["id"]))).status_code == 204
        assert len((await alice.get(f"/channels/{c}/pinned-messages")).json()) == 3
    finally:
        await users.close()
        running.shutdown()
