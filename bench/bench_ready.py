"""Benchmark of the READY read-state fields (API.md §6.4, §4.11): ``unread_counts``,
``mention_counts`` and ``dm_channels``.

Scenario (issue 7): one user in 20 servers x 50 text channels (plus 2 private channels
per server the user cannot view), 10,000 unread messages by others spread over the
viewable channels (about 5 % mention the user, 0.2 % are @everyone by the owner), 20,000
older messages from before the user joined, a read marker in every fourth channel, other
users' mentions as noise, and 30 DM channels with 20 messages each (half unread). Built
with the project's migrations in a temp-file database. Goal: < 50 ms for
``unread_and_mentions`` + ``list_dm_channels``.

Rows are best / median of ``--repeat`` runs. The ratio compares each row with the
baseline measured in the same run: the obvious implementation (per channel an uncapped
``count(*)`` of the unread messages and a second walk of them checking each for a
mention).

Run from the repository root:
    PYTHONPATH=. .venv/bin/python bench/bench_ready.py
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from together_server import permissions as p
from together_server.clock import format_us
from together_server.storage import dms, perms, readstate
from together_server.storage.db import apply_migrations
from together_server.storage.db import connect as db_connect

GOAL_MS = 50.0
JOIN_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Ids:
    """UUIDv7-shaped ids in strictly increasing time order, with their created_at."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms
        self.n = 0

    def next(self, step_ms: int = 1) -> tuple[str, str]:
        self.ms += step_ms
        self.n += 1
        value = (self.ms << 80) | (0x7 << 76) | ((self.n & 0xFFF) << 64) | (0b10 << 62) | self.n
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", format_us(self.ms * 1000)


def build(conn: sqlite3.Connection, rng: random.Random, unread_total: int) -> dict[str, Any]:
    apply_migrations(conn)
    conn.execute("BEGIN")
    old = Ids(JOIN_MS - 10_000_000)
    ids = Ids(JOIN_MS + 1000)
    me = "00000000-0000-7000-8000-00000000000a"
    others = [f"00000000-0000-7000-8000-{i:012x}" for i in range(100, 130)]
    for uid in [me, *others]:
        conn.execute("INSERT INTO users(id, username, username_fold, created_at) VALUES (?,?,?,?)",
                     (uid, uid[-6:], uid[-6:], format_us(JOIN_MS * 1000 - 10**9)))
    joined = format_us(JOIN_MS * 1000)
    visible: list[str] = []
    channel_server: dict[str, str] = {}
    for s in range(20):
        sid, created = old.next()
        owner = others[s % len(others)]
        conn.execute("INSERT INTO servers(id, name, owner_id, member_count, created_at, updated_at)"
                     " VALUES (?,?,?,?,?,?)", (sid, f"s{s}", owner, 6, created, created))
        for uid in {owner, me, *rng.sample(others, 4)}:
            conn.execute("INSERT INTO members(server_id, user_id, joined_at) VALUES (?,?,?)",
                         (sid, uid, joined if uid == me else created))
        for c in range(52):
            cid, created = old.next()
            conn.execute("INSERT INTO channels(id, server_id, name, name_fold, type, position, created_at)"
                         " VALUES (?,?,?,?,'text',?,?)", (cid, sid, f"c{c}", f"c{c}", c, created))
            channel_server[cid] = sid
            if c >= 50:  # private: everyone override denies VIEW_CHANNEL
                oid, _ = old.next()
                conn.execute("INSERT INTO overrides(id, channel_id, role_id, allow, deny) VALUES (?,?,?,0,?)",
                             (oid, cid, sid, int(p.Permission.VIEW_CHANNEL)))
            else:
                visible.append(cid)
    every = list(channel_server)
    msg_sql = ("INSERT INTO messages(id, channel_id, server_id, author_id, content, mention_everyone, created_at)"
               " VALUES (?,?,?,?,?,?,?)")
    for _ in range(20_000):  # history from before the join
        cid = rng.choice(every)
        mid, ts = old.next()
        conn.execute(msg_sql, (mid, cid, channel_server[cid], rng.choice(others), "old", 0, ts))
    acked: dict[str, str] = {}
    for i in range(unread_total + 2000):  # the last 2000 sit below some read markers, or are noise
        cid = rng.choice(every)
        mid, ts = ids.next()
        everyone = int(rng.random() < 0.002)
        conn.execute(msg_sql, (mid, cid, channel_server[cid], rng.choice(others), "hello", everyone, ts))
        if rng.random() < 0.05:
            conn.execute("INSERT INTO message_mentions(message_id, user_id, ordinal) VALUES (?,?,0)", (mid, me))
        if rng.random() < 0.05:
            conn.execute("INSERT INTO message_mentions(message_id, user_id, ordinal) VALUES (?,?,0)",
                         (mid, rng.choice(others)))
        if i == 2000:
            for cid2 in visible[::4]:
                acked[cid2] = mid
    for cid, marker in acked.items():
        conn.execute("INSERT INTO read_states(user_id, channel_id, marker) VALUES (?,?,?)", (me, cid, marker))
    for other in others:
        dm_id, created = ids.next()
        a, b = dms.pair(me, other)
        conn.execute("INSERT INTO dm_channels(id, user_a, user_b, created_at) VALUES (?,?,?,?)", (dm_id, a, b, created))
        for k in range(20):
            mid, ts = ids.next()
            conn.execute("INSERT INTO dm_messages(id, channel_id, author_id, content, created_at) VALUES (?,?,?,?,?)",
                         (mid, dm_id, other if k % 2 else me, "dm", ts))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    return {"me": me, "visible": visible}


def naive(conn: sqlite3.Connection, user_id: str) -> tuple[int, int]:
    """Baseline: uncapped count(*) per channel and a second walk for mentions."""
    markers = dict(conn.execute("SELECT channel_id, marker FROM read_states WHERE user_id = ?", (user_id,)).fetchall())
    unread = mentions = 0
    for sid, joined in conn.execute("SELECT server_id, joined_at FROM members WHERE user_id = ?", (user_id,)).fetchall():
        floor = readstate.floor_marker(joined)
        for cid in perms.visible_channel_ids(conn, sid, user_id):
            marker = markers.get(cid, floor)
            unread += conn.execute(
                "SELECT count(*) FROM messages WHERE channel_id = ? AND deleted = 0 AND id > ? AND author_id != ?",
                (cid, marker, user_id)).fetchone()[0]
            mentions += conn.execute(
                "SELECT count(*) FROM messages m WHERE m.channel_id = ? AND m.deleted = 0 AND m.id > ?"
                " AND m.author_id != ? AND (m.mention_everyone = 1 OR EXISTS (SELECT 1 FROM message_mentions mm"
                " WHERE mm.message_id = m.id AND mm.user_id = ?))", (cid, marker, user_id, user_id)).fetchone()[0]
    return unread, mentions


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return min(runs), statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unread", type=int, default=10_000, help="unread messages (before markers)")
    parser.add_argument("--repeat", type=int, default=15, help="runs per row")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        conn = db_connect(Path(tmp) / "bench.db", "normal", reader=False)  # the daemon's set-up
        conn.execute("PRAGMA journal_mode = WAL")
        t0 = time.perf_counter()
        info = build(conn, rng, args.unread)
        built = time.perf_counter() - t0
        me = info["me"]
        unread, mentions = readstate.unread_and_mentions(conn, me)
        total_unread = sum(u["unread_count"] for u in unread)
        total_mentions = sum(m["count"] for m in mentions)
        n_unread, n_mentions = naive(conn, me)
        dm_unread = sum(u["unread_count"] for u in unread if u["channel_id"] not in set(info["visible"]))
        assert total_unread - dm_unread == n_unread, (total_unread, dm_unread, n_unread)
        assert total_mentions == n_mentions, (total_mentions, n_mentions)

        def ready_part() -> None:
            readstate.unread_and_mentions(conn, me)
            dms.list_dm_channels(conn, me, lambda _u: False)

        servers = [r[0] for r in conn.execute("SELECT server_id FROM members WHERE user_id = ?", (me,))]
        visible = {sid: perms.visible_channel_ids(conn, sid, me) for sid in servers}
        assert readstate.unread_and_mentions(conn, me, visible) == (unread, mentions)

        rows = [
            ("baseline: naive uncapped counts", timed(lambda: naive(conn, me), args.repeat)),
            ("unread_and_mentions", timed(lambda: readstate.unread_and_mentions(conn, me), args.repeat)),
            ("  with visible channels handed in", timed(lambda: readstate.unread_and_mentions(conn, me, visible),
                                                        args.repeat)),
            ("list_dm_channels (30 DMs)", timed(lambda: dms.list_dm_channels(conn, me, lambda _u: False),
                                                args.repeat)),
            ("READY read-state total", timed(ready_part, args.repeat)),
        ]
        base = rows[0][1][1]
        print(f"# {' '.join(sys.argv)}  (dataset built in {built:.1f} s; SQLite {sqlite3.sqlite_version})")
        print(f"# 20 servers x 50 visible channels, {n_unread} unread server messages, "
              f"{dm_unread} unread DMs, {total_mentions} mentions, {len(unread)} channels with unread")
        print(f"{'row':<36} {'best ms':>9} {'median ms':>10} {'ratio':>7}")
        for name, (best, med) in rows:
            print(f"{name:<36} {best:>9.2f} {med:>10.2f} {med / base:>7.2f}")
        total = rows[-1][1][1]
        print(f"goal < {GOAL_MS:.0f} ms: {'met' if total < GOAL_MS else 'NOT met'} ({total:.1f} ms median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
