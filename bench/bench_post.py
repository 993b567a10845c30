"""Message-post throughput and latency vs two bare quart-trio baselines (issue 2).

Starts three servers as subprocesses on loopback — the bare "insert under a lock"
endpoint, the bare "group commit" endpoint, and the real daemon — and drives each with
wrk (32 connections, 2 threads) for the same duration, posting the same JSON body. Prints
req/s, p50/p99 latency, the ratio to the group-commit baseline, and the idle daemon's RSS.
Needs `wrk` (Debian: apt-get install wrk). Not part of CI.

    .venv/bin/python bench/bench_post.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-post-"))
    body = '{"content": "hello from the benchmark, a line of ordinary chat text"}'
    rows = []
    procs = []
    try:
        for mode in ("lock", "group"):
            port = free_port()
            env = {**os.environ, "MODE": mode, "DB": str(tmp / f"{mode}.db"), "PYTHONPATH": str(ROOT)}
            p = subprocess.Popen([PY, "-m", "hypercorn", "-k", "trio", "-b", f"127.0.0.1:{port}",
                                  "--log-level", "warning", "bench.baseline_app:app"],
                                 env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            base = f"http://127.0.0.1:{port}"
            wait_up(base)
            rps, p50, p99 = run_wrk(base + "/msg", args.seconds, args.connections, {"Content-Type": "application/json"}, body)
            rows.append(({"lock": "bare quart-trio: one insert per request under a lock", "group": "bare quart-trio: group commit"}[mode], rps, p50, p99))
            p.send_signal(signal.SIGTERM)
            p.wait(10)
        port = free_port()
        cfg = tmp / "together.toml"
        cfg.write_text(f'[server]\nport = {port}\ndata_dir = "{tmp / "daemon"}"\n[ratelimit]\nenabled = false\n')
        p = subprocess.Popen([PY, "-m", "together_server", "serve", "--config", str(cfg)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        wait_up(base, "/health")
        time.sleep(1.0)
        idle_rss = rss_mb(p.pid)
        c = httpx.Client(base_url=base)
        tok = c.post("/auth/register", json={"username": "bench", "password": "benchmark1"}).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        sid = c.post("/servers", json={"name": "bench"}, headers=h).json()["id"]
        cid = c.post(f"/servers/{sid}/channels", json={"name": "general", "type": "text"}, headers=h).json()["id"]
        rps, p50, p99 = run_wrk(f"{base}/channels/{cid}/messages", args.seconds, args.connections,
                                {"Content-Type": "application/json", "Authorization": f"Bearer {tok}"}, body)
        rows.append(("together-server POST /channels/:id/messages", rps, p50, p99))
        loaded_rss = rss_mb(p.pid)
        # The same endpoint without the search index: drop the FTS triggers (the daemon's
        # writer re-prepares its statements) and run again, to price the index (issue 6).
        import sqlite3
        db = sqlite3.connect(str(tmp / "daemon" / "together.db"), isolation_level=None)
        for trig in ("messages_fts_insert", "messages_fts_update", "messages_fts_delete"):
            db.execute(f"DROP TRIGGER IF EXISTS {trig}")
        db.close()
        rps, p50, p99 = run_wrk(f"{base}/channels/{cid}/messages", args.seconds, args.connections,
                                {"Content-Type": "application/json", "Authorization": f"Bearer {tok}"}, body)
        rows.append(("same, search index triggers dropped", rps, p50, p99))
        p.send_signal(signal.SIGTERM)
        p.wait(20)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    group = rows[1][1]
    print(f"\ncommand: {' '.join([os.path.relpath(PY, ROOT)] + sys.argv)}   ({args.connections} connections, "
          f"{args.seconds} s each, wrk -t2, loopback, 2 cores shared with the load generator)\n")
    print("| endpoint | req/s | p50 ms | p99 ms | vs group commit |\n|---|---|---|---|---|")
    for name, rps, p50, p99 in rows:
        print(f"| {name} | {rps:,.0f} | {p50:.1f} | {p99:.1f} | {rps / group:.2f}x |")
    print(f"\nsearch index cost on posting: {1 - rows[2][1] / rows[3][1]:.0%} of throughput (goal ≤ 20%)")
    print(f"idle daemon RSS: {idle_rss:.1f} MB (goal < 60 MB); after the run: {loaded_rss:.1f} MB")


if __name__ == "__main__":
    main()
