"""WAL size around an outside reader that holds a snapshot (issue 15 §7).

Runs the real daemon twice in one process, each on a fresh data directory:

* ``fixed``: the defaults (journal_size_limit 4 MiB, background checkpoint every
  ``--interval`` s: PASSIVE when busy, TRUNCATE when idle);
* ``baseline``: the behaviour before the fix, emulated with settings: no background
  checkpoint (interval 3600 s) and a 1 GiB journal_size_limit (effectively none).

In each, an outside sqlite3 connection runs ``BEGIN; SELECT count(*) FROM messages`` and
keeps the snapshot while ``--posts`` messages (corpus lines) are posted over HTTP by 6
concurrent clients; then it rolls back, and the WAL size is sampled for ``--idle`` s.

    python bench/bench_wal.py --posts 1200
"""

from __future__ import annotations

import argparse
import os
import shlex
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import Users, corpus, make_config  # noqa: E402

from together_server.daemon import run_daemon  # noqa: E402


def wal_mib(db: Path) -> float:
    try:
        return os.stat(f"{db}-wal").st_size / 2**20
    except FileNotFoundError:
        return 0.0


async def one(name: str, database: dict[str, object], posts: int, idle: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-wal-{name}-") as tmp:
        cfg = make_config(Path(tmp) / "data", database=database)
        db = cfg.data_path / "together.db"
        lines = [line for line in corpus() if line.strip()]
        async with trio.open_nursery() as nursery:
            running = await nursery.start(lambda task_status: run_daemon(
                cfg, task_status=task_status, install_signal_handlers=False))
            users = Users(running.url)
            alice = await users.new("alice")
            server = await alice.server("WAL bench")
            channel = (await alice.channel(server["id"]))["id"]
            outside = sqlite3.connect(str(db), isolation_level=None)
            outside.execute("BEGIN")
            outside.execute("SELECT count(*) FROM messages").fetchone()
            sent = 0
            started = time.perf_counter()

            async def worker() -> None:
                nonlocal sent
                while sent < posts:
                    n = sent
                    sent += 1
                    r = await alice.post(f"/channels/{channel}/messages",
                                         json={"content": f"{n} {lines[n % len(lines)]}"[:2000]})
                    assert r.status_code == 201, r.text

            async with trio.open_nursery() as inner:
                for _ in range(6):
                    inner.start_soon(worker)
            took = time.perf_counter() - started
            held = wal_mib(db)
            outside.execute("ROLLBACK")
            outside.close()
            released = time.perf_counter()
            back_under = None
            while time.perf_counter() - released < idle:
                if back_under is None and wal_mib(db) <= 4.0:
                    back_under = time.perf_counter() - released
                await trio.sleep(0.05)
            after = wal_mib(db)
            await users.close()
            running.shutdown()
    return {"held": held, "after": after, "back_under": -1.0 if back_under is None else back_under,
            "rate": posts / took}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=1200)
    ap.add_argument("--idle", type=float, default=12.0, help="seconds to watch the WAL after the reader left")
    ap.add_argument("--interval", type=float, default=5.0, help="checkpoint_interval_seconds of the fixed run")
    ap.add_argument("--rounds", type=int, default=2, help="baseline + fixed pairs, alternating the order")
    args = ap.parse_args()
    runs = []
    for i in range(args.rounds):  # alternate which goes first
        order = [("baseline", True), ("fixed", False)] if i % 2 == 0 else [("fixed", False), ("baseline", True)]
        for name, baseline in order:
            database = ({"checkpoint_interval_seconds": 3600.0, "journal_size_limit_bytes": 1 << 30}
                        if baseline else {"checkpoint_interval_seconds": args.interval})
            runs.append((name, await one(name, database, args.posts, args.idle)))
    print(f"\n$ python bench/bench_wal.py {shlex.join(sys.argv[1:])}")
    print(f"{args.posts} posts while an outside reader holds a snapshot; then {args.idle:g} s idle; "
          "baseline = no background checkpoint, no size limit; fixed = the defaults; "
          "machine shared with other jobs\n")
    print("| run | posts/s | WAL with the reader | WAL after it left | back under 4 MiB after |")
    print("|---|---:|---:|---:|---:|")
    for name, r in runs:
        under = "never" if r["back_under"] < 0 else f"{r['back_under']:.1f} s"
        print(f"| {name} | {r['rate']:.0f} | {r['held']:.1f} MiB | {r['after']:.2f} MiB | {under} |")


if __name__ == "__main__":
    trio.run(main)
