"""The admin area (issue 13): /admin/stats, users, servers, settings (persisted and applied
at once), the instance-level audit log, and who may use it."""

from __future__ import annotations

from pathlib import Path

import trio
from conftest import Api, Users, make_config

from together_server.daemon import run_daemon


async def test_admin_area(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        running = await nursery.start(lambda task_status: run_daemon(
            make_config(tmp_path / "data"), task_status=task_status, install_signal_handlers=False))
        users = Users(running.url)
        admin = await users.new("boss")           # the first account is the instance admin
        alice = await users.new("alice")
        bob = await users.new("bob")
        assert admin.user["is_admin"] is True
        srv = await alice.server("Alice's place")
        cid = (await alice.channel(srv["id"]))["id"]
        await alice.send(cid, "hi")

        for path in ("/admin/stats", "/admin/users", "/admin/servers", "/admin/settings", "/admin/audit-logs"):
            r = await alice.get(path)
            assert r.status_code == 403 and r.json()["code"] == "not_admin", path
            assert (await users.anonymous().get(path)).status_code == 401

        stats = (await admin.get("/admin/stats")).json()
        assert stats["total_users"] == 3 and stats["total_servers"] == 1 and stats["total_messages"] == 1
        assert stats["database_bytes"] > 0 and stats["uptime_secs"] >= 0 and "active_ws_connections" in stats

        page = (await admin.get("/admin/users", params={"per_page": 2})).json()
        assert page["total"] == 3 and len(page["users"]) == 2 and page["per_page"] == 2
        found = (await admin.get("/admin/users", params={"search": alice.user["username"][:6].upper()})).json()
        assert alice.id in [u["id"] for u in found["users"]]
        assert (await admin.get("/admin/users", params={"search": "%_"})).json()["total"] == 0
        row = next(u for u in found["users"] if u["id"] == alice.id)
        assert row["server_count"] == 1 and row["message_count"] == 1 and row["disabled"] is False

        # disable: sessions end, login refused; enable again
        r = await admin.patch(f"/admin/users/{bob.id}", json={"disabled": True})
        assert r.status_code == 200 and r.json()["disabled"] is True
        assert (await bob.get("/users/@me")).status_code == 401
        login = await users.anonymous().post("/auth/login", json={"username": bob.user["username"],
                                                                   "password": "correct horse"})
        assert login.status_code == 403 and login.json()["code"] == "account_disabled"
        assert (await admin.patch(f"/admin/users/{bob.id}", json={"disabled": False})).json()["disabled"] is False
        # reset a password
        assert (await admin.patch(f"/admin/users/{bob.id}", json={"password": "fresh password"})).status_code == 200
        login = await users.anonymous().post("/auth/login", json={"username": bob.user["username"],
                                                                   "password": "fresh password"})
        assert login.status_code == 200
        # make / revoke admin; the last admin stays
        assert (await admin.patch(f"/admin/users/{alice.id}", json={"is_admin": True})).json()["is_admin"] is True
        assert (await alice.get("/admin/stats")).status_code == 200
        assert (await admin.patch(f"/admin/users/{alice.id}", json={"is_admin": False})).json()["is_admin"] is False
        r = await admin.patch(f"/admin/users/{admin.id}", json={"is_admin": False})
        assert r.status_code == 400 and "is_admin" in r.json()["errors"]
        assert (await admin.patch(f"/admin/users/{admin.id}", json={"disabled": True})).json()["code"] == "cannot_target_self"

        # settings: persisted and applied at once
        s = (await admin.get("/admin/settings")).json()
        assert s["registration_mode"] == "open"
        r = await admin.patch("/admin/settings", json={"registration_mode": "closed"})
        assert r.status_code == 200 and r.json()["registration_mode"] == "closed" and r.json()["updated_by"] == admin.id
        assert (await users.anonymous().get("/instance/registration-mode")).json() == {"registration_mode": "closed"}
        r = await users.anonymous().post("/auth/register", json={"username": "latecomer", "password": "correct horse"})
        assert r.status_code == 403 and r.json()["code"] == "registration_closed"
        bad = await admin.patch("/admin/settings", json={"registration_mode": "sometimes"})
        assert bad.status_code == 400

        # servers: list and delete any
        servers = (await admin.get("/admin/servers")).json()
        assert servers["total"] == 1 and servers["servers"][0]["owner_username"] == alice.user["username"]
        assert servers["servers"][0]["channel_count"] == 1 and servers["servers"][0]["message_count"] == 1
        assert (await admin.delete(f"/admin/servers/{srv['id']}")).status_code == 204
        assert (await alice.get(f"/servers/{srv['id']}")).status_code == 404
        assert (await admin.delete(f"/admin/servers/{srv['id']}")).json()["code"] == "unknown_server"
        # delete a user
        assert (await admin.delete(f"/admin/users/{bob.id}")).status_code == 204
        assert (await admin.get("/admin/users")).json()["total"] == 2

        log = (await admin.get("/admin/audit-logs", params={"limit": 100})).json()
        actions = [e["action"] for e in log]
        for a in ("user_disable", "user_enable", "user_password_reset", "user_promote", "user_demote",
                  "settings_update", "server_delete", "user_delete"):
            assert a in actions, a
        assert all(e["server_id"] is None and e["actor_id"] == admin.id for e in log)
        await users.close()
        running.shutdown()

    # the setting survived a restart (stored in the database)
    async with trio.open_nursery() as nursery:
        running = await nursery.start(lambda task_status: run_daemon(
            make_config(tmp_path / "data"), task_status=task_status, install_signal_handlers=False))
        anon = Api(running.url)
        assert (await anon.get("/instance/registration-mode")).json() == {"registration_mode": "closed"}
        await anon.client.aclose()
        running.shutdown()
