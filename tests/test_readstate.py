"""Read state (API.md §4.11): acks, CHANNEL_ACK (§6.7), and the READY ``unread_counts`` /
``mention_counts`` (§6.4) as ``storage.readstate.unread_and_mentions`` computes them
from the daemon's database (the gateway builds READY with that function).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from conftest import Api, Users
from test_dms import open_dm, sql

from together_server import permissions as p
from together_server.daemon import Running
from together_server.ids import IdClock
from together_server.storage import perms, readstate


def _connect(shared: Running) -> sqlite3.Connection:
    conn = sqlite3.connect(shared.state.config.data_path / "together.db", timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def counts(shared: Running, api: Api) -> tuple[dict[str, int], dict[str, int]]:
    """``({channel_id: unread}, {channel_id: mentions})`` for READY of ``api``'s user."""
    conn = _connect(shared)
    try:
        unread, mentions = readstate.unread_and_mentions(conn, api.id)
        # the gateway may hand in the visible channels it computed already: same answer
        visible = {sid: perms.visible_channel_ids(conn, sid, api.id)
                   for (sid,) in conn.execute("SELECT server_id FROM members WHERE user_id = ?", (api.id,))}
        assert readstate.unread_and_mentions(conn, api.id, visible) == (unread, mentions)
    finally:
        conn.close()
    assert all(u["unread_count"] > 0 for u in unread) and all(m["count"] > 0 for m in mentions)
    return ({u["channel_id"]: u["unread_count"] for u in unread}, {m["channel_id"]: m["count"] for m in mentions})


async def setup(users: Users) -> tuple[Api, Api, dict[str, Any], list[dict[str, Any]]]:
    """alice posts 3 messages in #general before bob joins her server."""
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Reads")
    chan = await alice.channel(srv["id"])
    before = [await alice.send(chan["id"], f"before {i}") for i in range(3)]
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, chan, before


async def test_counts_after_joining_and_mentions(users: Users, shared: Running) -> None:
    alice, bob, chan, _before = await setup(users)
    c = chan["id"]
    assert counts(shared, bob) == ({}, {})  # what came before the join is read
    await alice.send(c, "hello")
    await alice.send(c, f"hey @{bob.user['username']}")
    await alice.send(c, "@everyone meeting")  # the owner may mention everyone
    await bob.send(c, "my own messages never count")
    assert counts(shared, bob) == ({c: 3}, {c: 2})
    assert counts(shared, alice) == ({c: 1}, {})
    # a member without MANAGE_MESSAGES: @everyone is plain text
    carol = await users.new("carol")
    await alice.invite_and_join(chan["server_id"], carol)
    await carol.send(c, "@everyone hi")
    assert counts(shared, bob) == ({c: 4}, {c: 2})
    assert counts(shared, carol) == ({}, {})


async def test_ack_and_channel_ack_to_every_device(users: Users, shared: Running, record: Any) -> None:
    alice, bob, chan, _before = await setup(users)
    c = chan["id"]
    msgs = [await alice.send(c, f"m{i} @{bob.user['username']}") for i in range(4)]
    phone, laptop, other = record(bob), record(bob), record(alice)
    assert (await bob.post(f"/channels/{c}/ack")).status_code == 204
    assert counts(shared, bob) == ({}, {})
    event = {"channel_id": c, "message_id": msgs[-1]["id"]}
    assert phone.of("CHANNEL_ACK") == [event] and laptop.of("CHANNEL_ACK") == [event]
    assert other.of("CHANNEL_ACK") == []
    # backwards: mark as unread from msgs[1] on
    r = await bob.post(f"/channels/{c}/ack", json={"message_id": msgs[0]["id"].upper()})
    assert r.status_code == 204
    assert counts(shared, bob) == ({c: 3}, {c: 3})
    assert phone.of("CHANNEL_ACK")[-1] == {"channel_id": c, "message_id": msgs[0]["id"]}
    for body in ({}, {"message_id": None}, {"message_id": ""}):
        assert (await bob.post(f"/channels/{c}/ack", json=body)).status_code == 204
    assert (await bob.post(f"/channels/{c}/ack", content=b"")).status_code == 204
    assert counts(shared, bob) == ({}, {})


async def test_ack_errors(users: Users, shared: Running) -> None:
    alice, bob, chan, before = await setup(users)
    stranger = await users.new("stranger")
    c = chan["id"]
    other = await alice.channel(chan["server_id"], "other")
    elsewhere = await alice.send(other["id"], "elsewhere")
    gone = await alice.send(c, "gone")
    await alice.delete(f"/messages/{gone['id']}")
    for mid in (elsewhere["id"], gone["id"], "01900000-0000-7000-8000-000000000000"):
        r = await bob.post(f"/channels/{c}/ack", json={"message_id": mid})
        assert (r.status_code, r.json()["code"]) == (404, "unknown_message"), mid
    for bad in ({"message_id": "nope"}, {"message_id": 5}):
        r = await bob.post(f"/channels/{c}/ack", json=bad)
        assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await bob.post(f"/channels/{c}/ack", content=b"[1]")
    assert (r.status_code, r.json()["code"]) == (400, "invalid_json")
    for path in (f"/channels/{c}/ack", "/channels/nope/ack"):
        r = await stranger.post(path)
        assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    # a message from before the join may be acked too
    assert (await bob.post(f"/channels/{c}/ack", json={"message_id": before[0]["id"]})).status_code == 204
    # (and then everything after it by others counts as unread; #other was never acked)
    assert counts(shared, bob) == ({c: 2, other["id"]: 1}, {})


async def test_empty_channel_ack(users: Users, shared: Running, record: Any) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Quiet")
    c = (await alice.channel(srv["id"]))["id"]
    await alice.invite_and_join(srv["id"], bob)
    rec = record(bob)
    assert (await bob.post(f"/channels/{c}/ack")).status_code == 204
    assert rec.of("CHANNEL_ACK") == [{"channel_id": c, "message_id": None}]
    await alice.send(c, "first")
    assert counts(shared, bob) == ({c: 1}, {})


async def test_counts_follow_deletes_and_edits(users: Users, shared: Running) -> None:
    alice, bob, chan, _before = await setup(users)
    c = chan["id"]
    name = bob.user["username"]
    plain = await alice.send(c, "plain")
    mention = await alice.send(c, f"ping @{name}")
    later = await alice.send(c, "later")
    assert counts(shared, bob) == ({c: 3}, {c: 1})
    assert (await alice.patch(f"/messages/{plain['id']}", json={"content": f"now @{name}"})).status_code == 200
    assert counts(shared, bob) == ({c: 3}, {c: 2})
    assert (await alice.patch(f"/messages/{mention['id']}", json={"content": "no ping"})).status_code == 200
    assert counts(shared, bob) == ({c: 3}, {c: 1})
    await alice.delete(f"/messages/{plain['id']}")
    assert counts(shared, bob) == ({c: 2}, {})
    await alice.delete(f"/messages/{later['id']}")
    await alice.delete(f"/messages/{mention['id']}")
    assert counts(shared, bob) == ({}, {})


async def test_hidden_channels_do_not_count(users: Users, shared: Running) -> None:
    alice, bob, chan, _before = await setup(users)
    secret = await alice.channel(chan["server_id"], "secret")
    sql(shared, "INSERT INTO overrides (id, channel_id, role_id, allow, deny) VALUES (?, ?, ?, 0, ?)",
        ("01900000-0000-7000-8000-0000000000e1", secret["id"], chan["server_id"], int(p.Permission.VIEW_CHANNEL)))
    await alice.send(secret["id"], f"@everyone @{bob.user['username']} secret")
    await alice.send(chan["id"], "public")
    assert counts(shared, bob) == ({chan["id"]: 1}, {})
    r = await bob.post(f"/channels/{secret['id']}/ack")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    # leaving drops the server's channels from the counts
    assert (await bob.delete(f"/servers/{chan['server_id']}/leave")).status_code == 204
    assert counts(shared, bob) == ({}, {})


async def test_dm_counts_and_ack(users: Users, shared: Running, record: Any) -> None:
    alice, bob, _chan, _before = await setup(users)
    stranger = await users.new("stranger")
    dm = await open_dm(alice, bob)
    d = dm["id"]
    assert counts(shared, bob) == ({}, {})
    first = (await alice.post(f"/dm-channels/{d}/messages", json={"content": f"hi @{bob.user['username']}"})).json()
    await bob.post(f"/dm-channels/{d}/messages", json={"content": "hi back"})
    second = (await alice.post(f"/dm-channels/{d}/messages", json={"content": "how are you"})).json()
    assert counts(shared, bob) == ({d: 2}, {})  # DMs have no mention counts
    assert counts(shared, alice) == ({d: 1}, {})
    await alice.delete(f"/dm-channels/{d}/messages/{second['id']}")
    assert counts(shared, bob) == ({d: 1}, {})
    phone, laptop = record(bob), record(bob)
    assert (await bob.post(f"/dm-channels/{d}/ack")).status_code == 204
    assert counts(shared, bob) == ({}, {})
    assert phone.of("CHANNEL_ACK") == laptop.of("CHANNEL_ACK") != []
    assert phone.of("CHANNEL_ACK")[0]["channel_id"] == d
    assert (await bob.post(f"/dm-channels/{d}/ack", json={"message_id": first["id"]})).status_code == 204
    assert phone.of("CHANNEL_ACK")[-1] == {"channel_id": d, "message_id": first["id"]}
    r = await bob.post(f"/dm-channels/{d}/ack", json={"message_id": second["id"]})  # deleted
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    for path in (f"/dm-channels/{d}/ack", "/dm-channels/nope/ack"):
        r = await stranger.post(path)
        assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    # an empty DM acks to "null"
    carol = await users.new("carol")
    await alice.invite_and_join(_chan["server_id"], carol)
    empty = await open_dm(carol, bob)
    assert (await bob.post(f"/dm-channels/{empty['id']}/ack")).status_code == 204
    assert phone.of("CHANNEL_ACK")[-1] == {"channel_id": empty["id"], "message_id": None}


async def test_counts_stop_at_1000(users: Users, shared: Running) -> None:
    alice, bob, chan, _before = await setup(users)
    c = chan["id"]
    clock = IdClock()
    conn = sqlite3.connect(shared.state.config.data_path / "together.db", timeout=10, isolation_level=None)
    try:
        try:
            from together_server.search.segment import register_sql_functions
        except ImportError:
            pass
        else:
            register_sql_functions(conn)  # the FTS triggers call together_segment()
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(1005):
            mid, ts = clock.next()
            conn.execute("INSERT INTO messages (id, channel_id, server_id, author_id, content, created_at)"
                         " VALUES (?, ?, ?, ?, 'bulk', ?)", (mid, c, chan["server_id"], alice.id, ts))
            conn.execute("INSERT INTO message_mentions (message_id, user_id, ordinal) VALUES (?, ?, 0)", (mid, bob.id))
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert counts(shared, bob) == ({c: 1000}, {c: 1000})
