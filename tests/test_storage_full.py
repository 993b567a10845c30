"""A full disk and an outside lock (issue 15 §4), for real.

The full disk is a 16 MiB tmpfs this test mounts (and unmounts) under its temp dir, with the
data directory on it, filled by a plain file until ENOSPC. Writes answer 507
``insufficient_storage`` with Retry-After and one log line, not a traceback per request;
reads keep working; ``/health`` says degraded with the reason; freeing space recovers by
itself; SIGTERM with the disk full exits 0 after saying the checkpoint is deferred, and
every acknowledged message is there at the next start.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from conftest import Users, make_config
from test_core_cli import FAST_ARGON, serving

from together_server.daemon import Running, run_daemon


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mnt)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"this test mounts a 16 MiB tmpfs and needs root (CAP_SYS_ADMIN): {exc}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Write a filler file until the filesystem says ENOSPC; returns it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 512):
            block = b"\0" * chunk
            while True:
                try:
                    f.write(block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


def post(client: httpx.Client, token: str, channel: str, text: str) -> httpx.Response:
    return client.post(f"/channels/{channel}/messages", json={"content": text},
                       headers={"Authorization": f"Bearer {token}"})


def post_until_refused(client: httpx.Client, token: str, channel: str, acked: list[str]) -> httpx.Response:
    """Post until the disk refuses (the WAL may still have room for a few); keeps the acked ids."""
    for i in range(300):
        r = post(client, token, channel, f"filling the disk, message {i}")
        if r.status_code != 201:
            return r
        acked.append(r.json()["id"])
    raise AssertionError("300 posts fitted on a full disk")


def test_full_disk_refuses_writes_cleanly_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    data = small_disk / "data"
    conf = tmp_path / "t.toml"
    conf.write_text(
        f'[server]\nport = 0\ndata_dir = "{data}"\nshutdown_grace_seconds = 2.0\n'
        # no background checkpoint: the WAL keeps frames the main file has no room for
        "[database]\ncheckpoint_interval_seconds = 3600\n" + FAST_ARGON, encoding="utf-8")
    acked: list[str] = []
    with serving(["--config", str(conf)]) as proc:
        url = proc.url()
        with httpx.Client(base_url=url, timeout=30) as client:
            r = client.post("/auth/register", json={"username": "alice", "password": "correct horse"})
            token = r.json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            server = client.post("/servers", json={"name": "Full disk"}, headers=auth).json()
            channel = client.post(f"/servers/{server['id']}/channels", json={"name": "general", "type": "text"},
                                  headers=auth).json()["id"]
            acked.append(post(client, token, channel, "before the disk filled").json()["id"])

            filler = fill(small_disk)
            first = post_until_refused(client, token, channel, acked)
            refused = [first] + [post(client, token, channel, f"refused {i}") for i in range(20)]
            for r in refused:
                assert r.status_code == 507, r.text
                assert r.json()["code"] == "insufficient_storage"
                assert "disk is full" in r.json()["message"]
                assert int(r.headers["Retry-After"]) >= 1
            # reads keep working
            listed = client.get(f"/channels/{channel}/messages?limit=100", headers=auth)
            assert listed.status_code == 200 and {m["id"] for m in listed.json()} >= set(acked[-50:])
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["status"] == "degraded" and health.json()["reason"] == "insufficient_storage"
            log = "".join(proc.lines)
            assert "Traceback" not in log
            assert log.count("writes refused") == 1, log  # one line per interval, not one per request

            filler.unlink()  # space returns: recovery is automatic
            deadline = time.monotonic() + 20
            while client.get("/health").status_code != 200:
                assert time.monotonic() < deadline, "health did not recover"
                time.sleep(0.2)
            assert client.get("/health").json() == {"status": "ok"}
            r = post(client, token, channel, "after space returned")
            assert r.status_code == 201
            acked.append(r.json()["id"])

            # full again, then SIGTERM: exit 0, the checkpoint deferred, nothing lost
            for i in range(30):  # new pages in the WAL that the main file must grow for
                acked.append(post(client, token, channel, f"kept in the WAL {i} " + "x" * 1500).json()["id"])
            fill(small_disk)
            post_until_refused(client, token, channel, acked)
        rc = proc.stop(signal.SIGTERM)
        log = "".join(proc.lines)
        assert rc == 0, log
        assert "checkpoint deferred" in log
        assert "Traceback" not in log
        print("\n" + "".join(line for line in proc.lines if "WARNING" in line or "ERROR" in line))

    (small_disk / "filler").unlink()
    check = sqlite3.connect(str(data / "together.db"))
    try:
        have = {row[0] for row in check.execute("SELECT id FROM messages")}
        assert set(acked) <= have, f"{len(set(acked) - have)} acknowledged messages lost"
        assert check.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        check.close()


async def test_outside_write_lock_is_503_database_busy(nursery: trio.Nursery, tmp_path: Path) -> None:
    """`database is locked` beyond the busy timeout: 503 database_busy + Retry-After, reads
    work, /health says why, and the daemon (its background write loops too) carries on."""
    cfg = make_config(tmp_path / "data", database={"busy_timeout_ms": 300})
    running: Running = await nursery.start(
        lambda task_status: run_daemon(cfg, task_status=task_status, install_signal_handlers=False))
    users = Users(running.url)
    try:
        alice = await users.new("alice")
        server = await alice.server("Locked")
        channel = (await alice.channel(server["id"]))["id"]
        await alice.send(channel, "before the lock")
        outside = sqlite3.connect(str(cfg.data_path / "together.db"), isolation_level=None)
        outside.execute("BEGIN IMMEDIATE")  # an admin's sqlite3 shell holding the write lock
        try:
            started = time.monotonic()
            while time.monotonic() - started < 6:  # past a run of the 5 s purge loop
                r = await alice.post(f"/channels/{channel}/messages", json={"content": "blocked"})
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "database_busy" and r.headers["Retry-After"] == "2"
                assert r.json()["retry_after"] == 2.0
                r = await alice.get(f"/channels/{channel}/messages")
                assert r.status_code == 200 and [m["content"] for m in r.json()] == ["before the lock"]
            health = await alice.get("/health")
            assert health.status_code == 503 and health.json()["reason"] == "database_busy"
        finally:
            outside.execute("ROLLBACK")
            outside.close()
        r = await alice.post(f"/channels/{channel}/messages", json={"content": "after the lock"})
        assert r.status_code == 201
        assert (await alice.get("/health")).json() == {"status": "ok"}
        assert os.path.exists(cfg.data_path / "together.db")
    finally:
        await users.close()
        running.shutdown()
