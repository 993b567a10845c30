"""Search latency, index size and FTS write cost (API.md §7, DESIGN.md "Search").

Builds a database of N messages sampled from /work/shared/data (English and
international lines), spread over several servers and channels, by direct inserts after
applying the real migrations, then measures:

* p50/p99 latency of ``search_messages`` (highlights included) for random one-word
  queries from the corpus vocabulary, the 20 most common words, two-word queries,
  phrases, prefixes, filter-only queries and ``sort=relevance``;
* the on-disk size of the FTS tables (dbstat) against the whole database;
* insert throughput with and without the FTS triggers, in the same run (alternating
  rounds of small transactions, like the writer's group commits), and their ratio.

Goals: p99 < 20 ms for random one-word queries, < 50 ms for the others; the index costs
at most 20% of write throughput.

    python bench/bench_search.py --messages 200000
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from together_server.search.engine import search_messages  # noqa: E402
from together_server.search.query import parse_query  # noqa: E402
from together_server.storage.db import apply_migrations  # noqa: E402
from together_server.storage.db import connect as db_connect  # noqa: E402

DATA = Path("/work/shared/data")
SERVERS = 8
CHANNELS_PER_SERVER = 12
USERS = 200
BATCH = 10_000


def load_lines() -> list[str]:
    en = (DATA / "chat-lines-en.txt").read_text(encoding="utf-8").splitlines()
    intl = [line.split("\t", 1)[1] for line in (DATA / "chat-lines-intl.txt").read_text(encoding="utf-8").splitlines()]
    return en + intl


def uid(n: int, kind: int) -> str:
    h = f"{kind:04x}{n:028x}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def ts(i: int, total: int) -> str:
    # Spread over ~2 years, strictly increasing with i.
    base = 1_704_067_200.0  # 2024-01-01
    t = base + i * (63_000_000 / max(total, 1))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def build(path: Path, n: int, lines: list[str], rng: random.Random) -> tuple[list[str], dict[str, list[str]]]:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    apply_migrations(conn)
    now = "2024-01-01T00:00:00.000000Z"
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO users(id, username, username_fold, created_at) VALUES (?, ?, ?, ?)",
        [(uid(u, 1), f"user{u}", f"user{u}", now) for u in range(USERS)],
    )
    servers = [uid(s, 2) for s in range(SERVERS)]
    channels: dict[str, list[str]] = {}
    for s, sid in enumerate(servers):
        conn.execute(
            "INSERT INTO servers(id, name, owner_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (sid, f"server {s}", uid(0, 1), now, now),
        )
        channels[sid] = []
        for c in range(CHANNELS_PER_SERVER):
            cid = uid(s * 100 + c, 3)
            channels[sid].append(cid)
            conn.execute(
                "INSERT INTO channels(id, server_id, name, name_fold, type, position, created_at)"
                " VALUES (?, ?, ?, ?, 'text', ?, ?)",
                (cid, sid, f"chan{c}", f"chan{c}", c, now),
            )
    conn.execute("COMMIT")
    start = time.perf_counter()
    for lo in range(0, n, BATCH):
        rows = []
        for i in range(lo, min(n, lo + BATCH)):
            sid = servers[rng.randrange(SERVERS)]
            rows.append((uid(i, 4), rng.choice(channels[sid]), sid, uid(rng.randrange(USERS), 1),
                         rng.choice(lines), ts(i, n)))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages(id, channel_id, server_id, author_id, content, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        print(f"\rbuilding: {min(n, lo + BATCH):,}/{n:,}", end="", file=sys.stderr, flush=True)
    print(f"\rbuilt {n:,} messages in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return servers, channels


def insert_rate(conn: sqlite3.Connection, rows: list[tuple[str, ...]], per_tx: int) -> float:
    start = time.perf_counter()
    for lo in range(0, len(rows), per_tx):
        conn.execute("BEGIN IMMEDIATE")
        for row in rows[lo:lo + per_tx]:
            conn.execute(
                "INSERT INTO messages(id, channel_id, server_id, author_id, content, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)", row)
        conn.execute("COMMIT")
    return len(rows) / (time.perf_counter() - start)


def write_cost(conn: sqlite3.Connection, n: int, lines: list[str], servers: list[str],
               channels: dict[str, list[str]], rng: random.Random) -> tuple[float, float]:
    """(messages/s with triggers, without), best of alternating rounds."""
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'messages_fts_%'"
    ).fetchall()
    with_fts, without = [], []
    nxt = n + 1_000_000
    for _round in range(3):
        for enabled in (True, False):
            if not enabled:
                for name, _ in triggers:
                    conn.execute(f"DROP TRIGGER {name}")
            rows = []
            for _ in range(3000):
                sid = servers[rng.randrange(SERVERS)]
                rows.append((uid(nxt, 4), rng.choice(channels[sid]), sid, uid(rng.randrange(USERS), 1),
                             rng.choice(lines), ts(n, n)))
                nxt += 1
            (with_fts if enabled else without).append(insert_rate(conn, rows, per_tx=20))
            if not enabled:
                for _, sql in triggers:
                    conn.execute(sql)
                # Index what was written without triggers, so the database stays consistent.
                conn.execute(
                    "INSERT INTO messages_fts(rowid, body) SELECT seq, body FROM messages_fts_src"
                    " WHERE seq >= (SELECT seq FROM messages WHERE id = ?)", (rows[0][0],))
                conn.execute(
                    "INSERT INTO messages_fts_raw(rowid, body) SELECT seq, body FROM messages_fts_src"
                    " WHERE seq >= (SELECT seq FROM messages WHERE id = ?)", (rows[0][0],))
    return max(with_fts), max(without)


def vocabulary(lines: list[str]) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    counts: collections.Counter[str] = collections.Counter()
    pairs: list[tuple[str, str]] = []
    for line in lines[:31574]:
        words = re.findall(r"[a-z]{3,}", line.lower())
        counts.update(words)
        pairs.extend(zip(words, words[1:], strict=False))
    vocab = [w for w, c in counts.items() if c >= 2]
    return vocab, [w for w, _ in counts.most_common(20)], pairs


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=300, help="queries per kind")
    ap.add_argument("--db", type=Path, default=None, help="reuse/build this file (default: temp)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured rounds of every query kind first")
    ap.add_argument("--reuse", action="store_true", help="with --db: query an existing file, do not rebuild")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    lines = load_lines()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-search-")
        path = Path(tmp.name) / "bench.db"
    else:
        path = args.db
    if args.reuse and args.db is not None and path.exists():
        with sqlite3.connect(str(path)) as old:
            servers = [r[0] for r in old.execute("SELECT id FROM servers ORDER BY id")]
            channels = {sid: [r[0] for r in old.execute("SELECT id FROM channels WHERE server_id = ? ORDER BY id", (sid,))]
                        for sid in servers}
            args.messages = old.execute("SELECT count(*) FROM messages").fetchone()[0]
    else:
        path.unlink(missing_ok=True)
        servers, channels = build(path, args.messages, lines, rng)

    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    apply_migrations(conn)  # registers the SQL functions; nothing left to apply
    # Searches run on a connection set up exactly like the daemon's readers.
    reader = db_connect(path, "normal", reader=True)
    vocab, common, pairs = vocabulary(lines)

    def run(q: str, sort: str = "newest") -> Callable[[], object]:
        sid = rng.choice(servers)
        query = parse_query(q)
        return lambda: search_messages(
            reader, server_id=sid, viewable_channel_ids=channels[sid], query=query,
            channel_id=None, before=None, limit=50, sort=sort, offset=0)

    kinds: list[tuple[str, Callable[[], str], str, float]] = [
        ("random one word", lambda: rng.choice(vocab), "newest", 20),
        ("20 most common words", lambda: rng.choice(common), "newest", 50),
        ("two words", lambda: f"{rng.choice(vocab)} {rng.choice(vocab)}", "newest", 50),
        ("phrase", lambda: '"{} {}"'.format(*rng.choice(pairs)), "newest", 50),
        ("prefix", lambda: rng.choice([w for w in (rng.choice(vocab),) if len(w) >= 4] or ["gene"])[:4] + "*",
         "newest", 50),
        ("filter only", lambda: rng.choice([f"from:user{rng.randrange(USERS)}", "has:link",
                                            f"from:user{rng.randrange(USERS)} has:link",
                                            "before:2024-06-01", f"in:chan{rng.randrange(12)} after:2025-06-01"]),
         "newest", 50),
        ("sort=relevance, one word", lambda: rng.choice(vocab), "relevance", 50),
        ("sort=relevance, common word", lambda: rng.choice(common), "relevance", 50),
        ("CJK 2 chars", lambda: rng.choice(["我们", "今天", "什么", "東京", "日本", "先生", "安全"]), "newest", 50),
    ]
    # A server that has been up for a while has the index in the OS page cache; warm it
    # with a pass of queries that are not measured (--warmup 0 measures a cold start).
    for _ in range(args.warmup):
        for _name, make, sort, _goal in kinds:
            run(make(), sort)()
    rows = []
    for name, make, sort, goal in kinds:
        fns = [run(make(), sort) for _ in range(args.queries)]
        it = iter(fns)
        p50, p99 = measure(lambda it=it: next(it)(), args.queries)
        rows.append((name, p50, p99, goal))

    sizes = dict(conn.execute(
        "SELECT CASE WHEN name LIKE 'messages_fts%' THEN 'fts' ELSE 'other' END, sum(pgsize)"
        " FROM dbstat GROUP BY 1").fetchall())
    conn.execute("PRAGMA journal_mode = WAL")
    with_fts, without = write_cost(conn, args.messages, lines, servers, channels, rng)
    conn.close()

    print()
    print(f"$ python {shlex.join(sys.argv)}")
    print(f"SQLite {sqlite3.sqlite_version}, {args.messages:,} messages, {SERVERS} servers x "
          f"{CHANNELS_PER_SERVER} channels, {args.queries} queries per kind, limit=50")
    print()
    print(f"{'query kind':<30} {'p50 ms':>8} {'p99 ms':>8} {'goal p99':>9}  ok")
    for name, p50, p99, goal in rows:
        print(f"{name:<30} {p50:8.2f} {p99:8.2f} {goal:8.0f}   {'yes' if p99 < goal else 'NO'}")
    print()
    fts, other = sizes.get("fts", 0), sizes.get("other", 0)
    print(f"index size: FTS tables {fts / 2**20:.1f} MiB, rest of database {other / 2**20:.1f} MiB "
          f"(FTS = {fts / max(other, 1):.0%} of the rest)")
    print(f"insert throughput (20 messages per transaction, best of 3): with FTS {with_fts:,.0f}/s, "
          f"without {without:,.0f}/s, ratio {with_fts / without:.2f} (cost {1 - with_fts / without:.0%}, goal <= 20%)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
