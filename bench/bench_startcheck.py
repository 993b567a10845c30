"""Start-up cost of the integrity check (issue 15 §5): ``PRAGMA quick_check`` on a large database.

Builds a database of N messages with the real schema (bench_search's builder: corpus lines,
FTS index included), then measures, in the same run and with the file in the page cache:

* reading the whole file sequentially (the baseline: quick_check cannot beat one read),
* ``startcheck.quick_check`` on it (what ``serve`` runs before listening),
* ``together-server serve`` from exec to its "listening" line, with the check and with
  ``--skip-quick-check`` (alternating runs), and the difference.

    python bench/bench_startcheck.py --messages 1000000
"""

from __future__ import annotations

import argparse
import random
import re
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import build, load_lines  # noqa: E402

from together_server.storage import startcheck  # noqa: E402

URL_RE = re.compile(r"listening on (http://\S+)")


def read_all(path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(1 << 20):
            pass
    return time.perf_counter() - started


def check_once(path: Path) -> float:
    conn = sqlite3.connect(str(path))
    try:
        return startcheck.quick_check(conn, path, max_seconds=3600)
    finally:
        conn.close()


def start_once(conf: Path, skip: bool) -> float:
    args = [sys.executable, "-m", "together_server", "serve", "--config", str(conf)]
    if skip:
        args.append("--skip-quick-check")
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if URL_RE.search(line):
                return time.perf_counter() - started
        raise RuntimeError("serve exited without listening")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="keep the data directory here (default: temp)")
    ap.add_argument("--reuse", action="store_true", help="with --dir: use the database already there")
    args = ap.parse_args()
    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-startcheck-")
        root = Path(tmp.name)
    else:
        root = args.dir
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    path = data / "together.db"
    if not (args.reuse and path.exists()):
        path.unlink(missing_ok=True)
        build(path, args.messages, load_lines(), random.Random(42))
    conf = root / "bench.toml"
    conf.write_text(f'[server]\nport = 0\ndata_dir = "{data}"\n'
                    '[database]\nquick_check_max_seconds = 3600\n', encoding="utf-8")
    size = path.stat().st_size
    read_all(path)  # warm the page cache, the imports and the check once, unmeasured
    check_once(path)
    start_once(conf, skip=True)
    reads, checks, with_check, without = [], [], [], []
    for run in range(args.runs):
        reads.append(read_all(path))
        checks.append(check_once(path))
        for skip in (run % 2 == 0, run % 2 == 1):  # alternate which start goes first
            (without if skip else with_check).append(start_once(conf, skip=skip))
    med = statistics.median
    gib = size / 2**30
    print(f"\n$ python bench/bench_startcheck.py {shlex.join(sys.argv[1:])}")
    print(f"database: {args.messages:,} messages, {size / 2**20:,.0f} MiB; median of {args.runs} runs; "
          "warm page cache; machine shared with other jobs\n")
    print("| measure | seconds | per GiB | vs reading the file |")
    print("|---|---:|---:|---:|")
    print(f"| read the file (baseline) | {med(reads):.3f} | {med(reads) / gib:.3f} | 1.0x |")
    print(f"| PRAGMA quick_check | {med(checks):.3f} | {med(checks) / gib:.3f} | {med(checks) / med(reads):.1f}x |")
    print(f"| serve to listening, with the check | {med(with_check):.3f} | | |")
    print(f"| serve to listening, --skip-quick-check | {med(without):.3f} | | |")
    print(f"| difference | {med(with_check) - med(without):.3f} | {(med(with_check) - med(without)) / gib:.3f} | |")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
