"""End-to-end smoke: two people register, meet in a server, and talk."""

from __future__ import annotations

from conftest import Users


async def test_two_users_talk(users: Users) -> None:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Hangout")
    chan = await alice.channel(srv["id"])
    await alice.invite_and_join(srv["id"], bob)
    m1 = await alice.send(chan["id"], "hi bob 👋")
    m2 = await bob.send(chan["id"], "hey @" + alice.user["username"])
    assert m2["mention_user_ids"] == [alice.id]
    r = await bob.get(f"/channels/{chan['id']}/messages")
    assert r.status_code == 200
    assert [m["id"] for m in r.json()] == [m2["id"], m1["id"]]
    r = await alice.get(f"/servers/{srv['id']}")
    assert r.json()["member_count"] == 2
