"""Operator commands (issue 13): backup while 32 clients post, restore into a new data
directory and serve it, restore's refusal, check, blobs, admin reset-password/promote/list,
and one line on every failure. The CLI runs as a real subprocess."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import trio
from conftest import Api, Users, make_config

from together_server.backup import BackupError, backup, blob_path, check, restore
from together_server.daemon import Running, run_daemon


def cli(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "together_server", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout)


def one_line_failure(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


async def start(nursery: trio.Nursery, data: Path) -> Running:
    return await nursery.start(lambda task_status: run_daemon(
        make_config(data), task_status=task_status, install_signal_handlers=False))


async def all_messages(api: Api, channel_id: str) -> set[str]:
    ids: set[str] = set()
    before = None
    while True:
        r = await api.get(f"/channels/{channel_id}/messages", params={"limit": 100, **({"before": before} if before else {})})
        page = r.json()
        if not page:
            return ids
        ids.update(m["id"] for m in page)
        before = page[-1]["id"]


async def test_backup_while_32_clients_post_then_restore_and_serve(tmp_path: Path) -> None:
    src, dst, archive = tmp_path / "src", tmp_path / "dst", tmp_path / "snap.tar"
    acked: list[tuple[float, str]] = []
    async with trio.open_nursery() as nursery:
        running = await start(nursery, src)
        users = Users(running.url)
        owner = await users.new("owner")
        sid = (await owner.server("Backed up"))["id"]
        cid = (await owner.channel(sid))["id"]
        with_file = await owner.send(cid, "the rules, attached")
        notes = b"LAN party rules\n1. bring a cable\n" * 50
        up = await owner.post(f"/messages/{with_file['id']}/attachments",
                              files=[("files", ("rules.txt", notes, "text/plain"))])
        assert up.status_code == 201, up.text
        posters = [owner]
        for _ in range(31):
            u = await users.new("poster")
            await owner.invite_and_join(sid, u)
            posters.append(u)
        stop = trio.Event()

        async def post_loop(api: Api, n: int) -> None:
            i = 0
            while not stop.is_set():
                r = await api.post(f"/channels/{cid}/messages", json={"content": f"client {n} message {i}"})
                assert r.status_code == 201, r.text
                acked.append((time.monotonic(), r.json()["id"]))
                i += 1

        async with trio.open_nursery() as clients:
            for n, api in enumerate(posters):
                clients.start_soon(post_loop, api, n)
            with trio.fail_after(120):  # a loaded machine posts slowly: wait for a real backlog
                while len(acked) < 200:
                    await trio.sleep(0.05)
            began = time.monotonic()
            p = await trio.to_thread.run_sync(lambda: cli("backup", "--data-dir", str(src), "--output", str(archive)))
            assert p.returncode == 0, p.stderr
            assert "integrity verified" in p.stdout
            assert archive.stat().st_mode & 0o077 == 0  # it holds the JWT secret and every message
            with trio.fail_after(60):  # posting goes on after the snapshot too
                while not any(t > began for t, _ in acked[-32:]):
                    await trio.sleep(0.05)
            stop.set()
        before = {mid for t, mid in acked if t < began}
        assert len(before) >= 200 and len(acked) > len(before)
        await users.close()
        running.shutdown()

    p = await trio.to_thread.run_sync(lambda: cli("restore", str(archive), "--data-dir", str(dst)))
    assert p.returncode == 0, p.stderr
    async with trio.open_nursery() as nursery:
        running = await start(nursery, dst)
        users = Users(running.url)
        login = await users.anonymous().post("/auth/login", json={"username": owner.user["username"],
                                                                   "password": "correct horse"})
        assert login.status_code == 200
        api = Api(running.url, login.json()["access_token"])
        restored = await all_messages(api, cid)
        assert before <= restored, f"{len(before - restored)} acknowledged messages missing"
        att = (await api.get(f"/messages/{with_file['id']}/attachments")).json()
        assert [a["filename"] for a in att] == ["rules.txt"]
        assert (await api.client.get(att[0]["url"])).content == notes  # the blob came back too
        await api.client.aclose()
        await users.close()
        running.shutdown()
    # restore refuses to overwrite without --force, and works with it
    refused = one_line_failure(await trio.to_thread.run_sync(
        lambda: cli("restore", str(archive), "--data-dir", str(dst))))
    assert "--force" in refused
    p = await trio.to_thread.run_sync(lambda: cli("restore", str(archive), "--data-dir", str(dst), "--force"))
    assert p.returncode == 0, p.stderr
    # check says healthy
    p = await trio.to_thread.run_sync(lambda: cli("check", "--data-dir", str(dst)))
    assert p.returncode == 0 and "healthy" in p.stdout and "ok   integrity" in p.stdout, p.stdout


def _fake_data_dir(root: Path, blobs: dict[str, bytes], referenced: list[tuple[str, str | None]]) -> None:
    root.mkdir(parents=True)
    conn = sqlite3.connect(str(root / "together.db"))
    conn.executescript(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT);"
        "INSERT INTO schema_migrations VALUES (8, '0008_admin.sql', 'now');"
        "CREATE TABLE messages (id TEXT); INSERT INTO messages VALUES ('m1');"
        "CREATE TABLE attachments (sha256 TEXT NOT NULL, thumb_sha256 TEXT);")
    conn.executemany("INSERT INTO attachments VALUES (?, ?)", referenced)
    conn.commit()
    conn.close()
    for sha, data in blobs.items():
        p = blob_path(root, sha)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_backup_carries_referenced_blobs_only_and_checks_them(tmp_path: Path) -> None:
    photo, thumb, orphan = b"photo bytes" * 1000, b"thumb", b"nobody's"
    blobs = {_sha(photo): photo, _sha(thumb): thumb, _sha(orphan): orphan}
    data = tmp_path / "data"
    _fake_data_dir(data, blobs, [(_sha(photo), _sha(thumb))])
    healthy, lines = check(data, known_version=8)
    assert healthy and any("1 orphaned" in line for line in lines)
    out = tmp_path / "b.tar"
    manifest = backup(data, out)
    assert manifest["blobs"] == 2
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert blob_path(Path(), _sha(photo)).as_posix() in names
    assert blob_path(Path(), _sha(orphan)).as_posix() not in names
    target = tmp_path / "restored"
    restore(out, target, force=False)
    assert blob_path(target, _sha(photo)).read_bytes() == photo
    assert blob_path(target, _sha(thumb)).read_bytes() == thumb
    # a damaged blob stops the backup; a missing one fails check
    blob_path(data, _sha(photo)).write_bytes(b"rot")
    try:
        backup(data, tmp_path / "c.tar")
    except BackupError as exc:
        assert "damaged" in str(exc)
    else:
        raise AssertionError("a damaged blob must stop the backup")
    assert not (tmp_path / "c.tar").exists() and not (tmp_path / "c.tar.partial").exists()
    os.unlink(blob_path(data, _sha(photo)))
    healthy, lines = check(data, known_version=8)
    assert not healthy and any(line.startswith("FAIL blobs") for line in lines)
    p = cli("check", "--data-dir", str(data))
    assert p.returncode == 1 and "NOT healthy" in p.stdout
    # a damaged archive is refused before anything changes
    bad = tmp_path / "bad.tar"
    bad.write_bytes(out.read_bytes()[:2048])
    assert "not" in one_line_failure(cli("restore", str(bad), "--data-dir", str(tmp_path / "fresh")))


async def test_admin_commands_beside_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with trio.open_nursery() as nursery:
        running = await start(nursery, data)
        users = Users(running.url)
        first = await users.new("first")
        second = await users.new("second")
        name = second.user["username"]
        p = await trio.to_thread.run_sync(lambda: cli("admin", "list", "--data-dir", str(data)))
        assert p.returncode == 0 and first.user["username"] in p.stdout and name not in p.stdout
        p = await trio.to_thread.run_sync(lambda: cli("admin", "promote", name, "--data-dir", str(data)))
        assert p.returncode == 0 and "instance admin" in p.stdout
        p = await trio.to_thread.run_sync(lambda: cli(
            "admin", "reset-password", name.upper(), "--password-stdin", "--data-dir", str(data),
            stdin="a brand new secret\n"))
        assert p.returncode == 0, p.stderr
        anon = users.anonymous()
        old = await anon.post("/auth/login", json={"username": name, "password": "correct horse"})
        assert old.status_code == 401
        new = await anon.post("/auth/login", json={"username": name, "password": "a brand new secret"})
        assert new.status_code == 200 and new.json()["user"]["is_admin"] is True
        refreshed = await anon.post("/auth/refresh", json={"refresh_token": second.refresh_token})
        assert refreshed.status_code == 401  # the old session ended
        p = await trio.to_thread.run_sync(lambda: cli("admin", "reset-password", first.user["username"],
                                                      "--data-dir", str(data)))
        assert p.returncode == 0 and "new password for" in p.stdout
        generated = p.stdout.split(": ", 1)[1].splitlines()[0]
        ok = await anon.post("/auth/login", json={"username": first.user["username"], "password": generated})
        assert ok.status_code == 200
        line = one_line_failure(await trio.to_thread.run_sync(
            lambda: cli("admin", "promote", "nobody-here", "--data-dir", str(data))))
        assert "Unknown user" in line
        admin = Api(running.url, ok.json()["access_token"])
        log = (await admin.get("/admin/audit-logs")).json()
        assert {"user_promote", "user_password_reset"} <= {e["action"] for e in log}
        assert all(e["actor_id"] is None for e in log if e["action"] == "user_promote")
        await admin.client.aclose()
        await users.close()
        running.shutdown()


def test_failures_are_one_line(tmp_path: Path) -> None:
    assert "no database" in one_line_failure(cli("backup", "--data-dir", str(tmp_path / "none")))
    assert "no database" in one_line_failure(cli("check", "--data-dir", str(tmp_path / "none")))
    assert "no backup archive" in one_line_failure(cli("restore", str(tmp_path / "x.tar"), "--data-dir", str(tmp_path)))
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all")
    one_line_failure(cli("restore", str(junk), "--data-dir", str(tmp_path / "d")))
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("[server]\nport = 'x'\n")
    assert "configuration error" in one_line_failure(cli("check", "--config", str(bad_cfg)))


