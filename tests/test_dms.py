"""Direct messages (API.md §4.8, §1.8 DmChannel / DirectMessage, §6.7 DM events, §1.9 race,
§3.2 deleted users, FIELD-CASES F28 DM part), against the real daemon.

Gateway events are observed with :class:`Recorder` through the ``record`` fixture
(conftest), which taps what the storage writer hands the hub after each COMMIT: the event and the
audience taken inside the transaction. Events are published before the request's handler
wakes, so they are there when the HTTP answer arrives. The helpers here are also imported
by the reaction, pin and read-state tests.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import trio
from conftest import Api, Users

from together_server.daemon import Running


def sql(running: Running, statement: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement on the daemon's database from outside (test set-up only)."""
    conn = sqlite3.connect(running.state.config.data_path / "together.db", timeout=10, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn.execute(statement, args).fetchall()
    finally:
        conn.close()


async def pair_in_server(users: Users) -> tuple[Api, Api, dict[str, Any]]:
    """alice owns a server with one text channel; bob has joined it."""
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Hangout")
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, srv


async def open_dm(a: Api, b: Api, status: int | None = None) -> dict[str, Any]:
    r = await a.post("/dm-channels", json={"user_id": b.id})
    assert r.status_code in ((200, 201) if status is None else (status,)), r.text
    return r.json()  # type: ignore[no-any-return]


# -- opening -------------------------------------------------------------------------

async def test_open_dm_then_reopen_from_either_side(users: Users, record: Any) -> None:
    alice, bob, _srv = await pair_in_server(users)
    ra, rb = record(alice), record(bob)
    first = await open_dm(alice, bob, 201)
    assert set(first) == {"id", "recipient", "created_at", "last_message_at"}
    assert first["last_message_at"] is None
    rec = first["recipient"]
    assert rec["id"] == bob.id and rec["username"] == bob.user["username"]
    assert rec["email"] is None and rec["chosen_status"] is None and rec["activity"] is None
    assert rec["is_admin"] is False
    # each side gets its own view: recipient is the other participant
    assert [d["recipient"]["id"] for d in ra.of("DM_CHANNEL_CREATE")] == [bob.id]
    assert [d["recipient"]["id"] for d in rb.of("DM_CHANNEL_CREATE")] == [alice.id]
    assert rb.of("DM_CHANNEL_CREATE")[0]["id"] == first["id"]
    again = await open_dm(bob, alice, 200)
    assert again["id"] == first["id"] and again["recipient"]["id"] == alice.id
    assert (await open_dm(alice, bob, 200))["id"] == first["id"]
    assert len(ra.of("DM_CHANNEL_CREATE")) == 1 and len(rb.of("DM_CHANNEL_CREATE")) == 1


async def test_open_dm_errors(users: Users) -> None:
    alice, bob, _srv = await pair_in_server(users)
    stranger = await users.new("stranger")
    r = await alice.post("/dm-channels", json={"user_id": alice.id})
    assert (r.status_code, r.json()["code"]) == (400, "cannot_target_self")
    r = await alice.post("/dm-channels", json={"user_id": "01900000-0000-7000-8000-000000000000"})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_user")
    r = await alice.post("/dm-channels", json={"user_id": stranger.id})
    assert (r.status_code, r.json()["code"]) == (403, "no_shared_server")
    for bad in ({}, {"user_id": "nope"}, {"user_id": 5}, {"user_id": None}):
        r = await alice.post("/dm-channels", json=bad)
        assert (r.status_code, r.json()["code"]) == (400, "validation_failed"), bad
        assert "user_id" in r.json()["errors"]
    # an existing channel opens without a shared server
    dm = await open_dm(alice, bob, 201)
    r = await bob.delete(f"/servers/{_srv['id']}/leave")
    assert r.status_code == 204, r.text
    assert (await open_dm(bob, alice, 200))["id"] == dm["id"]
    r = await alice.post(f"/dm-channels/{dm['id']}/messages", json={"content": "still here"})
    assert r.status_code == 201


async def test_concurrent_opens_one_channel(users: Users) -> None:
    for _ in range(3):
        alice, bob, _srv = await pair_in_server(users)
        results: list[tuple[int, str]] = []

        async def go(a: Api, b: Api, out: list[tuple[int, str]]) -> None:
            r = await a.post("/dm-channels", json={"user_id": b.id})
            out.append((r.status_code, r.json()["id"]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(go, alice, bob, results)
            nursery.start_soon(go, bob, alice, results)
        assert sorted(s for s, _ in results) == [200, 201]
        assert results[0][1] == results[1][1]


async def test_deleted_user_cannot_be_dmed(users: Users) -> None:
    alice, bob, _srv = await pair_in_server(users)
    carol = await users.new("carol")
    await alice.invite_and_join(_srv["id"], carol)
    dm = await open_dm(alice, bob, 201)
    r = await bob.request("DELETE", "/users/@me", json={"password": "correct horse"})
    assert r.status_code == 204, r.text
    r = await alice.post("/dm-channels", json={"user_id": bob.id})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_user")
    r = await alice.post(f"/dm-channels/{dm['id']}/messages", json={"content": "hello?"})
    assert (r.status_code, r.json()["code"]) == (404, "unknown_user")
    # the channel is still listed, with the deleted user's new name
    listed = (await alice.get("/dm-channels")).json()
    assert [d["id"] for d in listed] == [dm["id"]]
    assert listed[0]["recipient"]["username"].startswith("deleted-user-")
    # a fresh account elsewhere is unaffected
    assert (await open_dm(carol, alice, 201))["recipient"]["id"] == alice.id


# -- messages ------------------------------------------------------------------------

async def test_dm_messages_post_page_and_events(users: Users, record: Any) -> None:
    alice, bob, _srv = await pair_in_server(users)
    carol = await users.new("carol")
    await alice.invite_and_join(_srv["id"], carol)
    dm = await open_dm(alice, bob)
    ra, rb, rc = record(alice), record(bob), record(carol)
    sent = []
    for i in range(5):
        who = alice if i % 2 == 0 else bob
        r = await who.post(f"/dm-channels/{dm['id']}/messages", json={"content": f"dm {i} ✨"})
        assert r.status_code == 201, r.text
        msg = r.json()
        assert set(msg) == {"id", "channel_id", "author_id", "content", "edited_at", "created_at", "attachments"}
        assert msg["channel_id"] == dm["id"] and msg["author_id"] == who.id and msg["edited_at"] is None
        sent.append(msg)
    assert ra.of("DM_MESSAGE_CREATE") == sent and rb.of("DM_MESSAGE_CREATE") == sent
    assert rc.of("DM_MESSAGE_CREATE") == []
    ids = [m["id"] for m in sent]
    page = (await bob.get(f"/dm-channels/{dm['id']}/messages")).json()
    assert [m["id"] for m in page] == ids[::-1]
    page = (await bob.get(f"/dm-channels/{dm['id']}/messages", params={"limit": 2})).json()
    assert [m["id"] for m in page] == [ids[4], ids[3]]
    page = (await bob.get(f"/dm-channels/{dm['id']}/messages", params={"before": ids[3], "limit": 2})).json()
    assert [m["id"] for m in page] == [ids[2], ids[1]]
    page = (await bob.get(f"/dm-channels/{dm['id']}/messages", params={"after": ids[0], "limit": 2})).json()
    assert [m["id"] for m in page] == [ids[2], ids[1]]
    page = (await bob.get(f"/dm-channels/{dm['id']}/messages", params={"limit": 0})).json()
    assert len(page) == 1  # clamped into 1-100
    r = await bob.get(f"/dm-channels/{dm['id']}/messages", params={"before": "x"})
    assert r.status_code == 400
    # last_message_at follows the newest message
    listed = (await alice.get("/dm-channels")).json()
    assert listed[0]["last_message_at"] == sent[-1]["created_at"]


async def test_dm_message_rules(users: Users) -> None:
    alice, bob, _srv = await pair_in_server(users)
    stranger = await users.new("stranger")
    dm = await open_dm(alice, bob)
    for content in ("", "x" * 4001, 5):
        r = await alice.post(f"/dm-channels/{dm['id']}/messages", json={"content": content})
        assert (r.status_code, r.json()["code"]) == (400, "validation_failed"), content
    for content in ("\u200b", " "):  # accepted, hidden until files follow (issue 10)
        r = await alice.post(f"/dm-channels/{dm['id']}/messages", json={"content": content})
        assert r.status_code == 201
        listed = (await bob.get(f"/dm-channels/{dm['id']}/messages")).json()
        assert r.json()["id"] not in [m["id"] for m in listed]
    r = await alice.post(f"/dm-channels/{dm['id']}/messages", json={"content": "x" * 4000})
    assert r.status_code == 201
    for path in (f"/dm-channels/{dm['id']}/messages", "/dm-channels/not-a-uuid/messages",
                 "/dm-channels/01900000-0000-7000-8000-000000000000/messages"):
        r = await stranger.get(path)
        assert (r.status_code, r.json()["code"]) == (404, "unknown_channel"), path
        r = await stranger.post(path, json={"content": "hi"})
        assert (r.status_code, r.json()["code"]) == (404, "unknown_channel"), path


async def test_dm_delete_author_only(users: Users, record: Any, shared: Running) -> None:
    """FIELD-CASES F28, DM part."""
    alice, bob, _srv = await pair_in_server(users)
    dm = await open_dm(alice, bob)
    d = (await alice.post(f"/dm-channels/{dm['id']}/messages", json={"content": "D"})).json()
    ra, rb = record(alice), record(bob)
    r = await bob.delete(f"/dm-channels/{dm['id']}/messages/{d['id']}")
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    assert rb.of("DM_MESSAGE_DELETE") == [] and ra.of("DM_MESSAGE_DELETE") == []
    assert [m["content"] for m in (await bob.get(f"/dm-channels/{dm['id']}/messages")).json()] == ["D"]
    r = await alice.delete(f"/dm-channels/{dm['id']}/messages/{d['id']}")
    assert r.status_code == 204
    event = {"id": d["id"], "channel_id": dm["id"]}
    assert ra.of("DM_MESSAGE_DELETE") == [event] and rb.of("DM_MESSAGE_DELETE") == [event]
    assert (await bob.get(f"/dm-channels/{dm['id']}/messages")).json() == []
    assert (await alice.get("/dm-channels")).json()[0]["last_message_at"] is None
    r = await alice.delete(f"/dm-channels/{dm['id']}/messages/{d['id']}")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    r = await alice.delete(f"/dm-channels/{dm['id']}/messages/nope")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    stored = sql(shared, "SELECT content, deleted FROM dm_messages WHERE id = ?", (d["id"],))
    assert stored == [("", 1)]


async def test_dm_list_order(users: Users) -> None:
    me = await users.new("me")
    srv = await me.server("Many")
    friends = [await users.new(f"f{i}") for i in range(4)]
    for f in friends:
        await me.invite_and_join(srv["id"], f)
    dms = [await open_dm(me, f, 201) for f in friends]
    # dms[0] and dms[2] get messages (dms[0] the newest); dms[1], dms[3] stay empty
    await friends[2].post(f"/dm-channels/{dms[2]['id']}/messages", json={"content": "older"})
    await me.post(f"/dm-channels/{dms[0]['id']}/messages", json={"content": "newer"})
    listed = (await me.get("/dm-channels")).json()
    assert [d["id"] for d in listed] == [dms[0]["id"], dms[2]["id"], dms[3]["id"], dms[1]["id"]]
    assert [d["recipient"]["id"] for d in listed] == [friends[0].id, friends[2].id, friends[3].id, friends[1].id]
    theirs = (await friends[2].get("/dm-channels")).json()
    assert [(d["id"], d["recipient"]["id"]) for d in theirs] == [(dms[2]["id"], me.id)]
    assert (await (await users.new("lonely")).get("/dm-channels")).json() == []
