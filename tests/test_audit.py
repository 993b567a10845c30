"""The server audit log (issue 13): entries written with each change, the reason header,
filters and paging, the VIEW_AUDIT_LOG bit, and the retention purge."""

from __future__ import annotations

from typing import Any

from conftest import Api, Users
from test_roles import give, role, setup

from together_server.permissions import Permission

P = Permission


async def entries(api: Api, sid: str, **query: Any) -> list[dict[str, Any]]:
    r = await api.get(f"/servers/{sid}/audit-logs", params=query)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_channel_changes_are_logged_with_reason(users: Users) -> None:
    owner = await users.new("owner")
    srv = await owner.server("Audited")
    sid = srv["id"]
    chan = await owner.channel(sid, "general")
    r = await owner.patch(f"/channels/{chan['id']}", json={"name": "lobby", "topic": "hi"},
                          headers={"X-Audit-Log-Reason": "tidy%20up%20%F0%9F%A7%B9"})
    assert r.status_code == 200
    r = await owner.delete(f"/channels/{chan['id']}", headers={"X-Audit-Log-Reason": "not needed"})
    assert r.status_code == 204
    log = await entries(owner, sid)
    actions = [e["action"] for e in log]
    assert actions[:3] == ["channel_delete", "channel_update", "channel_create"]
    delete, update, create = log[0], log[1], log[2]
    assert delete["actor_id"] == owner.id and delete["target_id"] == chan["id"]
    assert delete["reason"] == "not needed" and delete["target_type"] == "channel"
    assert update["changes"] == {"name": {"old": "general", "new": "lobby"}, "topic": {"old": None, "new": "hi"}}
    assert update["reason"] == "tidy up 🧹"
    assert create["changes"]["name"] == {"old": None, "new": "general"}
    # filters and paging
    assert [e["action"] for e in await entries(owner, sid, action="channel_update")] == ["channel_update"]
    assert [e["id"] for e in await entries(owner, sid, limit=1, before=delete["id"])] == [update["id"]]
    assert await entries(owner, sid, user_id="0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d") == []
    r = await owner.get(f"/servers/{sid}/audit-logs", params={"action": "nonsense"})
    assert r.status_code == 400 and r.json()["code"] == "validation_failed"


async def test_a_failed_change_writes_no_entry(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    before = await entries(owner, sid)
    r = await member.delete(f"/channels/{chan['id']}")
    assert r.status_code == 403
    assert await entries(owner, sid) == before


async def test_view_audit_log_bit(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    r = await member.get(f"/servers/{sid}/audit-logs")
    assert r.status_code == 403 and r.json()["code"] == "missing_permission"
    stranger = await users.new("stranger")
    assert (await stranger.get(f"/servers/{sid}/audit-logs")).status_code == 404
    rl = await role(owner, sid, name="auditor", permissions=int(P.VIEW_AUDIT_LOG))
    await give(owner, sid, member.id, rl["id"])
    assert (await member.get(f"/servers/{sid}/audit-logs")).status_code == 200


async def test_retention_purge_in_batches(tmp_path: Any) -> None:
    """purge_batch removes at most ``batch`` old rows per call; newer rows stay."""
    import trio

    from together_server.clock import now_us
    from together_server.storage import audit
    from together_server.storage.db import Database

    async with Database(tmp_path / "t.db").open() as db:
        def fill(tx: Any) -> None:
            for i in range(25):
                audit.record(tx, None, None, "settings_update", changes={"i": i})
            tx.conn.execute("UPDATE audit_logs SET created_at = '2000-01-01T00:00:00.000000Z'"
                            " WHERE rowid IN (SELECT rowid FROM audit_logs LIMIT 20)")
        await db.write(fill)
        cutoff = audit.cutoff_for(90, now_us())
        counts = [await db.write(lambda tx: audit.purge_batch(tx, cutoff, 8)) for _ in range(4)]
        assert counts == [8, 8, 4, 0]
        left = await db.read(lambda c: c.execute("SELECT count(*) FROM audit_logs").fetchone()[0])
        assert left == 5
        with trio.move_on_after(0.5):  # the daemon's loop with nothing left to purge
            await audit.purge_loop(db, 90, 8, every=10)


async def test_moderation_roles_overrides_invites_and_message_deletes(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    chan = await owner.channel(sid)
    msg = await member.send(chan["id"], "spam spam")
    assert (await owner.delete(f"/messages/{msg['id']}")).status_code == 204
    own = await member.send(chan["id"], "mine")
    assert (await member.delete(f"/messages/{own['id']}")).status_code == 204
    rl = await role(owner, sid, name="helper", permissions=int(P.KICK_MEMBERS))
    r = await owner.patch(f"/servers/{sid}/roles/{rl['id']}", json={"name": "helpers"})
    assert r.status_code == 200
    await give(owner, sid, member.id, rl["id"])
    r = await owner.put(f"/channels/{chan['id']}/overrides", json={"role_id": rl["id"], "allow": 0, "deny": 2})
    assert r.status_code in (200, 201)
    r = await owner.post(f"/servers/{sid}/members/{member.id}/timeout", json={"duration_minutes": 5, "reason": "cool off"})
    assert r.status_code == 200
    inv = (await owner.post(f"/servers/{sid}/invites", json={})).json()
    assert (await owner.delete(f"/servers/{sid}/invites/{inv['id']}")).status_code == 204
    assert (await owner.patch(f"/servers/{sid}", json={"name": "Renamed"})).status_code == 200
    r = await owner.post(f"/servers/{sid}/members/{member.id}/ban", json={"reason": "bye"},
                         headers={"X-Audit-Log-Reason": "header loses to body"})
    assert r.status_code == 204
    assert (await owner.delete(f"/servers/{sid}/bans/{member.id}")).status_code == 204
    log = await entries(owner, sid, limit=100)
    by_action = {e["action"]: e for e in log}
    deletes = [e for e in log if e["action"] == "message_delete"]
    assert [e["target_id"] for e in deletes] == [msg["id"]]  # the author's own delete is not moderation
    assert by_action["role_update"]["changes"] == {"name": {"old": "helper", "new": "helpers"}}
    assert by_action["member_role_add"]["target_id"] == member.id
    assert by_action["override_create"]["changes"]["deny"] == {"old": None, "new": 2}
    assert by_action["member_timeout"]["reason"] == "cool off"
    assert by_action["member_ban"]["reason"] == "bye"
    assert by_action["server_update"]["changes"] == {"name": {"old": "Roles", "new": "Renamed"}}
    assert {"invite_create", "invite_delete", "member_unban", "role_create"} <= set(by_action)
