"""The writer's access cache never serves a stale answer (storage/writecache.py).

Each case posts once (so the author's channel access, timeout and the channel's
viewers are cached), changes one access fact through REST, and posts again.
"""

from __future__ import annotations

from conftest import Users


async def test_every_access_change_is_seen_by_the_next_post(users: Users) -> None:
    owner, b = await users.new("owner"), await users.new("b")
    s = (await owner.server("Cache"))["id"]
    c = (await owner.channel(s))["id"]
    await owner.invite_and_join(s, b)
    await b.send(c, "warm the cache")

    # a channel override denying SEND_MESSAGES to b
    r = await owner.put(f"/channels/{c}/overrides", json={"user_id": b.id, "allow": 0, "deny": 2})
    assert r.status_code == 200, r.text
    override_id = r.json()["id"]
    r = await b.post(f"/channels/{c}/messages", json={"content": "denied"})
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    assert (await owner.delete(f"/channels/{c}/overrides/{override_id}")).status_code == 204
    await b.send(c, "allowed again")

    # a timeout, then its removal
    r = await owner.post(f"/servers/{s}/members/{b.id}/timeout", json={"duration_minutes": 5})
    assert r.status_code == 200, r.text
    r = await b.post(f"/channels/{c}/messages", json={"content": "muted"})
    assert r.status_code == 403 and r.json()["code"] == "timed_out" and r.json()["timed_out_until"]
    assert (await owner.delete(f"/servers/{s}/members/{b.id}/timeout")).status_code == 204
    await b.send(c, "unmuted")

    # kicked: the channel is gone for b
    assert (await owner.post(f"/servers/{s}/members/{b.id}/kick")).status_code == 204
    r = await b.post(f"/channels/{c}/messages", json={"content": "after kick"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_channel"

    # channel deleted: gone for the owner too
    await owner.send(c, "last words")
    assert (await owner.delete(f"/channels/{c}")).status_code == 204
    r = await owner.post(f"/channels/{c}/messages", json={"content": "into the void"})
    assert r.status_code == 404


async def test_failed_job_does_not_poison_the_cache(users: Users) -> None:
    owner, b = await users.new("owner"), await users.new("b")
    s = (await owner.server("Cache 2"))["id"]
    c = (await owner.channel(s))["id"]
    await owner.invite_and_join(s, b)
    await b.send(c, "warm")
    # a reply to a message that does not exist fails inside the write job after the
    # access checks ran; the next posts must still see the real state
    r = await b.post(f"/channels/{c}/messages", json={"content": "x", "reply_to": "01a229cc-0000-7000-8000-000000000000"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_message"
    assert (await owner.post(f"/servers/{s}/members/{b.id}/ban")).status_code == 204
    r = await b.post(f"/channels/{c}/messages", json={"content": "banned"})
    assert r.status_code == 404
