"""The WAL returns to a small size once an outside reader has gone (issue 15 §7).

An outside ``sqlite3`` connection holds a read snapshot (``BEGIN; SELECT …``) while 1,200
messages are posted: the log cannot be checkpointed past that snapshot and grows. Once
the reader has gone, the background checkpoint (storage/maintenance.py, wired in
daemon.py) and ``journal_size_limit`` bring it back under the limit, without a restart.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import trio
from conftest import Users, corpus, make_config

from together_server.daemon import Running, run_daemon

LIMIT = 4 * 1024 * 1024
POSTS = 1200


def wal_size(db: Path) -> int:
    try:
        return os.stat(f"{db}-wal").st_size
    except FileNotFoundError:
        return 0


async def post_many(users: Users, channel_id: str, lines: list[str], count: int, api: object) -> None:
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while sent < count:
            n = sent
            sent += 1
            r = await api.post(f"/channels/{channel_id}/messages",  # type: ignore[attr-defined]
                               json={"content": f"{n} {lines[n % len(lines)]}"[:2000]})
            assert r.status_code == 201, r.text

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(worker)


async def test_wal_shrinks_after_an_outside_reader_leaves(nursery: trio.Nursery, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "data", database={"checkpoint_interval_seconds": 0.2,
                                                   "journal_size_limit_bytes": LIMIT})
    running: Running = await nursery.start(
        lambda task_status: run_daemon(cfg, task_status=task_status, install_signal_handlers=False))
    db = cfg.data_path / "together.db"
    users = Users(running.url)
    lines = [line for line in corpus() if line.strip()]
    try:
        alice = await users.new("alice")
        server = await alice.server("WAL land")
        channel = await alice.channel(server["id"])
        await alice.send(channel["id"], "before the snapshot")

        outside = sqlite3.connect(str(db), isolation_level=None)  # the admin's sqlite3 shell
        outside.execute("BEGIN")
        assert outside.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
        try:
            await post_many(users, channel["id"], lines, POSTS, alice)
            await trio.sleep(0.5)  # several checkpoint ticks, all held back by the snapshot
            held = wal_size(db)
            assert outside.execute("SELECT count(*) FROM messages").fetchone()[0] == 1  # still its snapshot
        finally:
            outside.execute("ROLLBACK")
            outside.close()
        assert held > 2 * LIMIT, f"the snapshot should have held the WAL back (only {held} bytes)"

        started = time.monotonic()
        with trio.fail_after(15):
            while wal_size(db) > LIMIT:
                # transactions that write nothing (the daemon's purge loop makes one every 5 s)
                # keep coming: the log is still idle, and must still be truncated
                await running.state.db.write(lambda tx: None)
                await trio.sleep(0.05)
        after = wal_size(db)
        took = time.monotonic() - started
        print(f"\nWAL with the outside reader: {held / 2**20:.1f} MiB; after it left: "
              f"{after / 2**20:.2f} MiB within {took:.1f} s (limit {LIMIT / 2**20:.0f} MiB)")

        # Busy again (never idle, so only PASSIVE checkpoints): journal_size_limit keeps it bounded.
        await post_many(users, channel["id"], lines, 200, alice)
        assert wal_size(db) <= 2 * LIMIT
        # nothing was lost on the way
        check = sqlite3.connect(str(db))
        assert check.execute("SELECT count(*) FROM messages").fetchone()[0] == POSTS + 201
        assert check.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        check.close()
    finally:
        await users.close()
        running.shutdown()
