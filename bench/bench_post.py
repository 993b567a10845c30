"""Message-post throughput and latency vs two bare quart-trio baselines (issue 2).

Starts three servers as subprocesses on loopback — the bare "insert under a lock"
endpoint, the bare "group commit" endpoint, and the real daemon — and drives each with
wrk (32 connections, 2 threads) for the same duration, posting the same JSON body. Prints
req/s, p50/p99 latency, the ratio to the group-commit baseline, and the idle daemon's RSS.
Needs `wrk` (Debian: apt-get install wrk). Not part of CI.

    .venv/bin/python bench/bench_post.py [--seconds 5] [--rounds 4] [--connections 32]

All four servers run for the whole benchmark and are measured in interleaved rounds, so
a burst of load from elsewhere on this shared machine hits every endpoint alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, path: str = "/", timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_wrk(url: str, seconds: int, conns: int, headers: dict[str, str], body: str) -> tuple[float, float, float]:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    hdrs = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    body_lua = body.replace("\\", "\\\\").replace('"', '\\"')
    script.write(f'wrk.method = "POST"\nwrk.body = "{body_lua}"\n{hdrs}'
                 'done = function(summary, latency, requests)\n'
                 '  io.write(string.format("P50 %f\\nP99 %f\\nNON2XX %d\\n", latency:percentile(50), latency:percentile(99), summary.errors.status))\n'
                 'end\n')
    script.close()
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "-s", script.name, url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"P50 ([\d.]+)", out).group(1)) / 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"P99 ([\d.]+)", out).group(1)) / 1000  # type: ignore[union-attr]
    non2xx = int(re.search(r"NON2XX (\d+)", out).group(1))  # type: ignore[union-attr]
    if non2xx:
        print(f"  warning: {non2xx} non-2xx answers from {url}", file=sys.stderr)
    return rps, p50, p99


def start_baseline(mode: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MODE": mode, "DB": str(tmp / f"{mode}.db"), "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([PY, "-m", "hypercorn", "-k", "trio", "-b", f"127.0.0.1:{port}",
                          "--log-level", "warning", "bench.baseline_app:app"],
                         env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_up(base)
    return p, base


def start_daemon(tmp: Path, name: str, index: bool) -> tuple[subprocess.Popen[bytes], str, str, str, float]:
    """A daemon with a user, a server and a channel; ``index=False`` drops the FTS triggers."""
    port = free_port()
    cfg = tmp / f"{name}.toml"
    cfg.write_text(f'[server]\nport = {port}\ndata_dir = "{tmp / name}"\n[ratelimit]\nenabled = false\n')
    p = subprocess.Popen([PY, "-m", "together_server", "serve", "--config", str(cfg)], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_up(base, "/health")
    time.sleep(1.0)
    idle = rss_mb(p.pid)  # started, nothing done yet but one /health
    c = httpx.Client(base_url=base)
    tok = c.post("/auth/register", json={"username": "bench", "password": "benchmark1"}).json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    sid = c.post("/servers", json={"name": "bench"}, headers=h).json()["id"]
    cid = c.post(f"/servers/{sid}/channels", json={"name": "general", "type": "text"}, headers=h).json()["id"]
    if not index:
        # the daemon's writer re-prepares its statements after this schema change
        import sqlite3
        db = sqlite3.connect(str(tmp / name / "together.db"), isolation_level=None)
        for trig in ("messages_fts_insert", "messages_fts_update", "messages_fts_delete"):
            db.execute(f"DROP TRIGGER IF EXISTS {trig}")
        db.close()
    return p, base, tok, cid, idle


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5, help="length of one round per endpoint")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (medians are reported)")
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-post-"))
    body = '{"content": "hello from the benchmark, a line of ordinary chat text"}'
    json_h = {"Content-Type": "application/json"}
    procs: list[subprocess.Popen[bytes]] = []
    targets: list[tuple[str, str, dict[str, str]]] = []
    try:
        for mode, label in (("lock", "bare quart-trio: one insert per request under a lock"),
                            ("group", "bare quart-trio: group commit")):
            p, base = start_baseline(mode, tmp)
            procs.append(p)
            targets.append((label, base + "/msg", json_h))
        p, base, tok, cid, idle_rss = start_daemon(tmp, "daemon", index=True)
        procs.append(p)
        daemon_pid = p.pid
        time.sleep(1.0)
        setup_rss = rss_mb(daemon_pid)
        targets.append(("together-server POST /channels/:id/messages", f"{base}/channels/{cid}/messages",
                        {**json_h, "Authorization": f"Bearer {tok}"}))
        p, base2, tok2, cid2, _ = start_daemon(tmp, "noindex", index=False)
        procs.append(p)
        targets.append(("same, search index triggers dropped", f"{base2}/channels/{cid2}/messages",
                        {**json_h, "Authorization": f"Bearer {tok2}"}))
        results: dict[str, list[tuple[float, float, float]]] = {t[0]: [] for t in targets}
        for _ in range(args.rounds):
            for label, url, headers in targets:
                results[label].append(run_wrk(url, args.seconds, args.connections, headers, body))
        loaded_rss = rss_mb(daemon_pid)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(20)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [(label, median([r[0] for r in rs]), median([r[1] for r in rs]), median([r[2] for r in rs]))
            for label, rs in results.items()]
    group = rows[1][1]
    print(f"\ncommand: {' '.join([os.path.relpath(PY, ROOT)] + sys.argv)}   ({args.connections} connections, "
          f"{args.rounds} interleaved rounds of {args.seconds} s per endpoint, medians; wrk -t2 on loopback, "
          "sharing the 2 cores with the servers)\n")
    print("| endpoint | req/s | p50 ms | p99 ms | vs group commit |\n|---|---|---|---|---|")
    for name, rps, p50, p99 in rows:
        print(f"| {name} | {rps:,.0f} | {p50:.1f} | {p99:.1f} | {rps / group:.2f}x |")
    print(f"\nsearch index cost on posting: {1 - rows[2][1] / rows[3][1]:.0%} of throughput (goal ≤ 20%)")
    print(f"daemon RSS: idle after start {idle_rss:.1f} MB (goal < 60 MB); after one registration "
          f"(argon2id, 19 MiB) {setup_rss:.1f} MB; after the run {loaded_rss:.1f} MB")


if __name__ == "__main__":
    main()
