"""Backup time for a ~1 GB database against ``cp`` of the same file (ratio), same run.

Builds (or reuses, ``--db``) a database with the daemon's schema filled with real chat lines
(../shared/data) until it reaches ``--size-mb``, then measures in alternating rounds:

* ``cp``: ``cp FILE COPY`` of the database file (what the issue compares against; not a
  safe way to copy a live WAL database);
* ``snapshot``: the online backup API step ``together-server backup`` uses (one read
  transaction, the whole file);
* ``backup``: the whole ``together-server backup`` (snapshot, ``PRAGMA integrity_check`` of
  the copy, the tar archive with its SHA-256), run as the real CLI subprocess.

The page cache is warm for all three (a first unmeasured ``cp``): the figures compare the
work, not the disk. Reported: seconds per round, medians and the ratios to ``cp``.

Run: .venv/bin/python bench/bench_backup.py [--size-mb 1024] [--rounds 3] [--db FILE --keep]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TOGETHER_SHARED", ROOT.parent / "shared")) / "data"


def build(path: Path, size_mb: int) -> None:
    from together_server.ids import IdClock
    from together_server.storage.db import apply_migrations, connect

    lines = (SHARED / "chat-lines-en.txt").read_text(encoding="utf-8").splitlines()
    lines += (SHARED / "chat-lines-intl.txt").read_text(encoding="utf-8").splitlines()
    conn = connect(path, "normal", reader=False)
    conn.execute("PRAGMA journal_mode = WAL")
    apply_migrations(conn)
    # The search index triggers would make building 1 GB take many minutes: the bench
    # database holds message rows only (the backup copies pages; what they hold is moot).
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'messages'"
                                ).fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    clock = IdClock()
    uid, now = clock.next()
    conn.execute("INSERT INTO users (id, username, username_fold, created_at) VALUES (?, 'bench', 'bench', ?)",
                 (uid, now))
    sid, _ = clock.next()
    conn.execute("INSERT INTO servers (id, name, owner_id, created_at, updated_at) VALUES (?, 'bench', ?, ?, ?)",
                 (sid, uid, now, now))
    channels = []
    for i in range(20):
        cid, _ = clock.next()
        conn.execute("INSERT INTO channels (id, server_id, name, name_fold, type, position, created_at)"
                     " VALUES (?, ?, ?, ?, 'text', ?, ?)", (cid, sid, f"c{i}", f"c{i}", i, now))
        channels.append(cid)
    target = size_mb * 1024 * 1024
    n = 0
    started = time.monotonic()
    while path.stat().st_size + (path.with_name(path.name + "-wal").stat().st_size
                                 if path.with_name(path.name + "-wal").exists() else 0) < target:
        conn.execute("BEGIN")
        rows = []
        for _ in range(20_000):
            mid, ts = clock.next()
            rows.append((mid, channels[n % 20], sid, uid, lines[n % len(lines)], ts))
            n += 1
        conn.executemany("INSERT INTO messages (id, channel_id, server_id, author_id, content, created_at)"
                         " VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"\rbuilding: {n:,} messages, {path.stat().st_size / 1e6:,.0f} MB", end="", file=sys.stderr)
    conn.close()
    print(f"\rbuilt {n:,} messages, {path.stat().st_size / 1e6:,.0f} MB in {time.monotonic() - started:.0f} s",
          file=sys.stderr)


def timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="database file to use (built there when missing)")
    parser.add_argument("--keep", action="store_true", help="keep the built database")
    args = parser.parse_args()
    from together_server.backup import snapshot

    with tempfile.TemporaryDirectory(prefix="bench-backup-", dir=Path(args.db).parent if args.db else None) as tmpdir:
        tmp = Path(tmpdir)
        data = tmp / "data"
        data.mkdir()
        db = data / "together.db"
        if args.db and Path(args.db).exists():
            os.link(args.db, db) if os.stat(args.db).st_dev == os.stat(tmp).st_dev else subprocess.run(
                ["cp", args.db, str(db)], check=True)
        else:
            build(db, args.size_mb)
            if args.db and args.keep:
                os.link(db, args.db)
        size = db.stat().st_size
        subprocess.run(["cp", str(db), str(tmp / "warm")], check=True)
        os.unlink(tmp / "warm")
        times: dict[str, list[float]] = {"cp": [], "snapshot": [], "backup": []}

        def run_cp() -> None:
            subprocess.run(["cp", str(db), str(tmp / "cp.db")], check=True)

        def run_snapshot() -> None:
            snapshot(db, tmp / "snap.db", lambda done, total: None)

        def run_backup() -> None:
            p = subprocess.run([sys.executable, "-m", "together_server", "backup", "--data-dir", str(data),
                                "--output", str(tmp / "b.tar")], capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(p.stderr)

        for i in range(args.rounds):
            order = ["cp", "snapshot", "backup"]
            for name in order[i % 3:] + order[: i % 3]:
                fn = {"cp": run_cp, "snapshot": run_snapshot, "backup": run_backup}[name]
                times[name].append(timed(fn))
                for leftover in ("cp.db", "snap.db", "b.tar"):
                    if (tmp / leftover).exists():
                        os.unlink(tmp / leftover)
        check = sqlite3.connect(str(db))
        (messages,) = check.execute("SELECT count(*) FROM messages").fetchone()
        check.close()
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"database {size / 1e6:,.0f} MB ({messages:,} messages, search index triggers dropped to build it fast), {args.rounds} rounds,"
          " rotating order, warm page cache; shared 2-core machine")
    print(f"{'round':>6} | {'cp s':>7} | {'snapshot s':>10} | {'backup s':>8}")
    for i in range(args.rounds):
        print(f"{i + 1:>6} | {times['cp'][i]:>7.2f} | {times['snapshot'][i]:>10.2f} | {times['backup'][i]:>8.2f}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'median':>6} | {med['cp']:>7.2f} | {med['snapshot']:>10.2f} | {med['backup']:>8.2f}")
    print(f"snapshot / cp = {med['snapshot'] / med['cp']:.2f}x;  verified backup archive / cp ="
          f" {med['backup'] / med['cp']:.2f}x  ({size / 1e6 / med['backup']:,.0f} MB/s)")


if __name__ == "__main__":
    main()
