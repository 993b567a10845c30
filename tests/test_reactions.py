"""Reactions (API.md §4.9, Message ``reactions`` §1.8, REACTION_ADD/REMOVE and the
per-receiver MESSAGE_UPDATE of §6.7), against the real daemon.

Permission set-ups that have no REST route in this build (overrides, timeouts, roles) are
seeded straight into the daemon's database with :func:`test_dms.sql`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import trio
from conftest import Api, Users
from test_dms import sql

from together_server import permissions as p
from together_server.clock import ts_after_seconds
from together_server.daemon import Running


def rpath(channel_id: str, message_id: str, emoji: str | None = None, raw: bool = False) -> str:
    base = f"/channels/{channel_id}/messages/{message_id}/reactions"
    if emoji is None:
        return base
    return f"{base}/{emoji if raw else quote(emoji, safe='')}"


async def setup(users: Users) -> tuple[Api, Api, dict[str, Any], dict[str, Any]]:
    """alice owns a server with channel ``chan`` and message ``msg``; bob is a member."""
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Reacts")
    chan = await alice.channel(srv["id"])
    await alice.invite_and_join(srv["id"], bob)
    msg = await alice.send(chan["id"], "react to me")
    return alice, bob, chan, msg


async def test_add_list_remove(users: Users, record: Any) -> None:
    alice, bob, chan, msg = await setup(users)
    ra, rb = record(alice), record(bob)
    c, m = chan["id"], msg["id"]
    assert (await bob.put(rpath(c, m, "👍"))).status_code == 204
    assert (await alice.put(rpath(c, m, "🎉"))).status_code == 204
    assert (await alice.put(rpath(c, m, "👍"))).status_code == 204
    r = await bob.put(rpath(c, m, "👍"))  # repeat: nothing happens
    assert r.status_code == 204 and r.content == b""
    adds = [(d["user_id"], d["emoji"]) for d in ra.of("REACTION_ADD")]
    assert adds == [(bob.id, "👍"), (alice.id, "🎉"), (alice.id, "👍")]
    assert rb.of("REACTION_ADD") == ra.of("REACTION_ADD")
    assert ra.of("REACTION_ADD")[0] == {"message_id": m, "channel_id": c, "user_id": bob.id, "emoji": "👍"}
    # ordered by each emoji's first use; me is the caller's
    assert (await bob.get(rpath(c, m))).json() == [
        {"emoji": "👍", "count": 2, "me": True}, {"emoji": "🎉", "count": 1, "me": False}]
    assert (await alice.get(rpath(c, m))).json() == [
        {"emoji": "👍", "count": 2, "me": True}, {"emoji": "🎉", "count": 1, "me": True}]
    # every Message shape carries them
    got = (await bob.get(f"/channels/{c}/messages/{m}")).json()
    assert got["reactions"] == [{"emoji": "👍", "count": 2, "me": True}, {"emoji": "🎉", "count": 1, "me": False}]
    listed = (await bob.get(f"/channels/{c}/messages")).json()
    assert listed[0]["reactions"] == got["reactions"]
    fresh = await alice.send(c, "no reactions yet")
    assert fresh["reactions"] == []
    # remove own
    assert (await bob.delete(rpath(c, m, "👍"))).status_code == 204
    assert rb.of("REACTION_REMOVE") == [{"message_id": m, "channel_id": c, "user_id": bob.id, "emoji": "👍"}]
    r = await bob.delete(rpath(c, m, "👍"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_reaction")
    r = await bob.delete(rpath(c, m, "🎉"))  # alice's, not bob's
    assert (r.status_code, r.json()["code"]) == (404, "unknown_reaction")
    assert (await bob.get(rpath(c, m))).json() == [
        {"emoji": "👍", "count": 1, "me": False}, {"emoji": "🎉", "count": 1, "me": False}]


async def test_emoji_encoding(users: Users) -> None:
    alice, _bob, chan, msg = await setup(users)
    c, m = chan["id"], msg["id"]
    assert (await alice.put(rpath(c, m, "a%2Fb", raw=True))).status_code == 204
    assert (await alice.put(rpath(c, m, "\u2764"))).status_code == 204          # ❤
    assert (await alice.put(rpath(c, m, "\u2764\ufe0f"))).status_code == 204    # ❤️: another one
    assert (await alice.put(rpath(c, m, "e\u0301"))).status_code == 204         # NFC: é
    assert (await alice.put(rpath(c, m, "\u00e9"))).status_code == 204          # the same é
    assert (await alice.put(rpath(c, m, ":party_parrot:"))).status_code == 204
    assert (await alice.put(rpath(c, m, "x" * 64))).status_code == 204
    assert (await alice.put(rpath(c, m, "é" * 32))).status_code == 204          # 64 bytes
    got = [(e["emoji"], e["count"]) for e in (await alice.get(rpath(c, m))).json()]
    assert got == [("a/b", 1), ("\u2764", 1), ("\u2764\ufe0f", 1), ("\u00e9", 1), (":party_parrot:", 1),
                   ("x" * 64, 1), ("é" * 32, 1)]
    for bad in ("x" * 65, "é" * 33, "a\x00b", "\x7f", "tab\there", "e" + "\u0301" * 40):
        r = await alice.put(rpath(c, m, bad))
        assert (r.status_code, r.json()["code"]) == (400, "validation_failed"), bad
        assert "emoji" in r.json()["errors"]
    r = await alice.put(rpath(c, m, "%FF%FE", raw=True))
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    # the slash inside the emoji is not a separator, on removal either
    assert (await alice.delete(rpath(c, m, "a%2Fb", raw=True))).status_code == 204
    assert "a/b" not in [e["emoji"] for e in (await alice.get(rpath(c, m))).json()]
    # a real extra segment is another route: DELETE only
    r = await alice.put(rpath(c, m, "x") + f"/{alice.id}")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE"
    r = await alice.put(rpath(c, m) + "/")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await alice.delete(rpath(c, m, "x") + "/a/b")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_targets_and_visibility(users: Users, shared: Running) -> None:
    alice, bob, chan, msg = await setup(users)
    stranger = await users.new("stranger")
    c, m = chan["id"], msg["id"]
    other = await alice.channel(chan["server_id"], "other")
    r = await stranger.put(rpath(c, m, "👍"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    r = await stranger.get(rpath(c, m))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")
    r = await bob.put(rpath(other["id"], m, "👍"))  # message of another channel
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    r = await bob.put(rpath(c, "01900000-0000-7000-8000-000000000000", "👍"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    r = await bob.put(rpath(c, "nope", "👍"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    gone = await alice.send(c, "soon gone")
    await bob.put(rpath(c, gone["id"], "👍"))
    assert (await alice.delete(f"/messages/{gone['id']}")).status_code == 204
    for r in (await bob.put(rpath(c, gone["id"], "👍")), await bob.delete(rpath(c, gone["id"], "👍")),
              await bob.get(rpath(c, gone["id"]))):
        assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    # ADD_REACTIONS taken away for bob by a member override
    sql(shared, "INSERT INTO overrides (id, channel_id, user_id, allow, deny) VALUES (?, ?, ?, 0, ?)",
        ("01900000-0000-7000-8000-0000000000a1", other["id"], bob.id, int(p.Permission.ADD_REACTIONS)))
    m2 = await alice.send(other["id"], "no reactions for bob here")
    await alice.put(rpath(other["id"], m2["id"], "👍"))
    r = await bob.put(rpath(other["id"], m2["id"], "👍"))
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    assert (await bob.get(rpath(other["id"], m2["id"]))).status_code == 200  # may still view
    # a running timeout blocks reacting (and says until when), but not removing
    await bob.put(rpath(c, m, "🙂"))
    until = ts_after_seconds(600)
    sql(shared, "INSERT INTO timeouts (server_id, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
        (chan["server_id"], bob.id, until, ts_after_seconds(0)))
    r = await bob.put(rpath(c, m, "👍"))
    assert (r.status_code, r.json()["code"], r.json()["timed_out_until"]) == (403, "timed_out", until)
    assert (await bob.delete(rpath(c, m, "🙂"))).status_code == 204


async def test_remove_others_needs_manage_messages(users: Users, record: Any, shared: Running) -> None:
    alice, bob, chan, msg = await setup(users)
    carol = await users.new("carol")
    await alice.invite_and_join(chan["server_id"], carol)
    c, m = chan["id"], msg["id"]
    await bob.put(rpath(c, m, "👍"))
    await carol.put(rpath(c, m, "👍"))
    rc = record(carol)
    r = await carol.delete(rpath(c, m, "👍") + f"/{bob.id}")
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    # the /:user_id form on yourself needs nothing more
    assert (await carol.delete(rpath(c, m, "👍") + f"/{carol.id}")).status_code == 204
    assert (await alice.delete(rpath(c, m, "👍") + f"/{bob.id}")).status_code == 204  # owner
    assert rc.of("REACTION_REMOVE")[-1] == {"message_id": m, "channel_id": c, "user_id": bob.id, "emoji": "👍"}
    r = await alice.delete(rpath(c, m, "👍") + f"/{bob.id}")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_reaction")
    r = await alice.delete(rpath(c, m, "👍") + "/not-a-uuid")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_reaction")
    # a moderator role (MANAGE_MESSAGES) may too
    await bob.put(rpath(c, m, "🔥"))
    role = "01900000-0000-7000-8000-0000000000b1"
    sql(shared, "INSERT INTO roles (id, server_id, name, permissions, position, created_at) VALUES (?, ?, 'mod', ?, 1, ?)",
        (role, chan["server_id"], int(p.Permission.MANAGE_MESSAGES), ts_after_seconds(0)))
    sql(shared, "INSERT INTO member_roles (server_id, user_id, role_id) VALUES (?, ?, ?)", (chan["server_id"], carol.id, role))
    assert (await carol.delete(rpath(c, m, "🔥") + f"/{bob.id}")).status_code == 204


async def test_events_reach_viewers_only(users: Users, record: Any, shared: Running) -> None:
    alice, bob, chan, _msg = await setup(users)
    secret = await alice.channel(chan["server_id"], "secret")
    # everyone override: nobody but the owner views #secret
    sql(shared, "INSERT INTO overrides (id, channel_id, role_id, allow, deny) VALUES (?, ?, ?, 0, ?)",
        ("01900000-0000-7000-8000-0000000000c1", secret["id"], chan["server_id"], int(p.Permission.VIEW_CHANNEL)))
    m = await alice.send(secret["id"], "only me")
    ra, rb = record(alice), record(bob)
    await alice.put(rpath(secret["id"], m["id"], "🤫"))
    await alice.delete(rpath(secret["id"], m["id"], "🤫"))
    assert len(ra.of("REACTION_ADD")) == 1 and len(ra.of("REACTION_REMOVE")) == 1
    assert rb.events == []
    r = await bob.put(rpath(secret["id"], m["id"], "🤫"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_channel")


async def test_message_update_has_per_receiver_me(users: Users, record: Any) -> None:
    alice, bob, chan, msg = await setup(users)
    await bob.put(rpath(chan["id"], msg["id"], "👀"))
    ra, rb = record(alice), record(bob)
    r = await alice.patch(f"/messages/{msg['id']}", json={"content": "edited"})
    assert r.status_code == 200
    assert r.json()["reactions"] == [{"emoji": "👀", "count": 1, "me": False}]
    assert ra.of("MESSAGE_UPDATE")[0]["reactions"] == [{"emoji": "👀", "count": 1, "me": False}]
    assert rb.of("MESSAGE_UPDATE")[0]["reactions"] == [{"emoji": "👀", "count": 1, "me": True}]


async def test_distinct_emoji_limit_race(users: Users, shared: Running) -> None:
    limit = shared.state.config.limits.reactions_per_message
    alice, bob, chan, msg = await setup(users)
    c, m = chan["id"], msg["id"]
    for i in range(limit - 1):
        assert (await alice.put(rpath(c, m, f"e{i}"))).status_code == 204
    racers = [alice, bob] + [await users.new(f"r{i}") for i in range(6)]
    for api in racers[2:]:
        await alice.invite_and_join(chan["server_id"], api)
    statuses: list[tuple[int, str]] = []

    async def race(api: Api, emoji: str) -> None:
        r = await api.put(rpath(c, m, emoji))
        statuses.append((r.status_code, r.content and r.json()["code"] or ""))

    async with trio.open_nursery() as nursery:
        for i, api in enumerate(racers):
            nursery.start_soon(race, api, f"new{i}")
    assert sorted(statuses) == [(204, "")] + [(400, "limit_reached")] * (len(racers) - 1)
    got = (await alice.get(rpath(c, m))).json()
    assert len(got) == limit
    # at the limit an emoji already there can still be added by someone else
    assert (await bob.put(rpath(c, m, "e0"))).status_code == 204
    r = await bob.put(rpath(c, m, "one-too-many"))
    assert (r.status_code, r.json()["code"]) == (400, "limit_reached")


async def test_emoji_made_of_slashes_and_control_characters(users: Users) -> None:
    """§4.9: %2F is part of the emoji wherever it stands (also first, or alone); an
    emoji with a control character (%0A too) is 400, never an unknown path."""
    alice, bob, chan, msg = await setup(users)
    base = f"/channels/{chan['id']}/messages/{msg['id']}/reactions/"
    for raw, emoji in (("%2F", "/"), ("%2Fa", "/a"), ("%2F%2F", "//")):
        assert (await bob.put(base + raw)).status_code == 204, raw
        listed = {r["emoji"]: r for r in (await bob.get(base.rstrip("/"))).json()}
        assert listed[emoji]["me"] is True
        r = await alice.delete(base + raw + "/" + bob.id)
        assert r.status_code == 204, (raw, r.text)
    for raw in ("a%0Ab", "a%0Db", "%0A"):
        r = await bob.put(base + raw)
        assert r.status_code == 400 and r.json()["code"] == "validation_failed", (raw, r.text)


async def test_who_reacted_lists_users_earliest_first(shared: Running) -> None:
    """GET …/reactions/:emoji (extension, issue 11): who reacted, by username; viewers only."""
    users = Users(shared.url)
    try:
        owner, bob, eve = await users.new("own"), await users.new("bob"), await users.new("eve")
        srv = await owner.server()
        await owner.invite_and_join(srv["id"], bob)
        ch = await owner.channel(srv["id"])
        msg = await owner.send(ch["id"], "react to me")
        base = f"/channels/{ch['id']}/messages/{msg['id']}/reactions/"
        e = quote("👍")
        assert (await bob.put(base + e)).status_code == 204
        assert (await owner.put(base + e)).status_code == 204
        r = await owner.get(base + e)
        assert r.status_code == 200
        assert [u["username"] for u in r.json()] == sorted([bob.user["username"], owner.user["username"]], key=str.lower)
        assert set(r.json()[0]) == {"id", "username", "avatar_url", "is_bot"}
        r = await owner.get(base + quote("🎉"))
        assert r.status_code == 200 and r.json() == []
        r = await eve.get(base + e)
        assert r.status_code == 404 and r.json()["code"] == "unknown_channel"
    finally:
        await users.close()
