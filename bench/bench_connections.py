"""Descriptors held by idle and slow connections (issue 15 part 3), before vs after.

Each scenario starts a daemon subprocess (this tree, and with ``--baseline DIR`` also the
source tree DIR, e.g. a checkout of the commit before the fix, on ``PYTHONPATH``) and
counts its open descriptors in ``/proc/<pid>/fd``:

* ``keepalive``: N connections (default 200) each send one GET and stay idle; descriptors
  before, right after and ``--wait`` seconds later (keep-alive timeout 5 s in both: the
  baseline's hypercorn default, set explicitly here).
* ``slowbody``: the daemon runs with ``RLIMIT_NOFILE`` 1024; M sockets (default 1,100)
  send ``POST /auth/login`` headers with ``Content-Length: 1000`` and then one byte a
  second, from one source address (127.0.0.2) or spread over ``--ips`` addresses. Every
  few seconds a fresh client on 127.0.0.1 tries ``GET /health`` (2 s timeout); reported:
  how many probes were answered, slow sockets the server closed, descriptors, log lines.

Run: .venv-test/bin/python bench/bench_connections.py [--baseline /tmp/before] [--seconds 40]
The machine is shared with other work: compare the two rows of one run.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
URL_RE = re.compile(r"listening on http://[^\s]+:(\d+)")


class Daemon:
    def __init__(self, tree: Path, extra: str, nofile: int | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-conn-"))
        conf = self.tmp / "t.toml"
        conf.write_text(f'[server]\nport = 0\ndata_dir = "{self.tmp / "data"}"\n{extra}\n'
                        "[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n[ratelimit]\nenabled = false\n")

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.p = subprocess.Popen([sys.executable, "-m", "together_server", "serve", "--config", str(conf)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  preexec_fn=limit, env=env, cwd=tree)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        end = time.monotonic() + 30
        self.port = 0
        while not self.port:
            for line in list(self.lines):
                m = URL_RE.search(line)
                if m:
                    self.port = int(m.group(1))
            if time.monotonic() > end or self.p.poll() is not None:
                raise SystemExit("daemon did not start:\n" + "".join(self.lines))
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.p.pid}/fd"))

    def stop(self) -> None:
        self.p.kill()
        self.p.wait(10)


def probe(port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def keepalive(tree: Path, n: int, wait: float, new: bool) -> dict[str, object]:
    d = Daemon(tree, "keep_alive_timeout_seconds = 5.0" if new else "", None)
    try:
        before = d.fds()
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\n\r\n")
            s.recv(4096)
            socks.append(s)
        during = d.fds()
        time.sleep(wait)
        after = d.fds()
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                while s.recv(65536):  # the rest of the answer, then EOF if closed
                    pass
                closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
            s.close()
        return {"before": before, "open": during, f"after {wait:.0f}s": after, "closed by server": f"{closed}/{n}"}
    finally:
        d.stop()


def slowbody(tree: Path, m: int, ips: int, seconds: float, new: bool) -> dict[str, object]:
    d = Daemon(tree, "", 1024)
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    failed_connect = 0
    try:
        before = d.fds()
        head = b"POST /auth/login HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        t_connect = time.monotonic()
        for i in range(m):
            s = socket.socket()
            s.bind((f"127.0.0.{2 + i % ips}", 0))
            s.settimeout(2.0)
            try:
                s.connect(("127.0.0.1", d.port))
                s.sendall(head)
            except OSError:
                failed_connect += 1
                s.close()
                continue
            s.setblocking(False)
            socks.append(s)
            sel.register(s, selectors.EVENT_READ)
        connect_s = time.monotonic() - t_connect
        alive = set(range(len(socks)))
        probes_ok = probes = 0
        timeline = []
        peak = d.fds()
        start = time.monotonic()
        next_probe = start + 2
        while time.monotonic() - start < seconds:
            for i in list(alive):  # one byte a second each
                try:
                    socks[i].send(b" ")
                except OSError:
                    alive.discard(i)
            for key, _ in sel.select(timeout=0):
                s = key.fileobj
                try:
                    data = s.recv(4096)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    alive.discard(socks.index(s))  # type: ignore[arg-type]
            if time.monotonic() >= next_probe:
                probes += 1
                ok = probe(d.port)
                probes_ok += ok
                timeline.append(f"{time.monotonic() - start:.0f}s:{'ok' if ok else 'none'}")
                next_probe = time.monotonic() + 3
            peak = max(peak, d.fds())
            time.sleep(max(0.0, 1.0 - (time.monotonic() - start) % 1.0))
        text = "".join(d.lines)
        return {
            "fds before": before, "peak fds": peak, "fds at end": d.fds(),
            "connected": f"{len(socks)}/{m} in {connect_s:.1f} s",
            "slow sockets closed by server": f"{len(socks) - len(alive)}/{len(socks)}",
            "/health probes answered": f"{probes_ok}/{probes}",
            "log lines": len(d.lines), "tracebacks": text.count("Traceback"),
            "probes (s after the last connect)": " ".join(timeline),
        }
    finally:
        for s in socks:
            s.close()
        d.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, help="a source tree to compare with (e.g. the commit before the fix)")
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--wait", type=float, default=8.0, help="seconds after the GETs before counting again")
    ap.add_argument("--slow", type=int, default=1100)
    ap.add_argument("--ips", type=int, default=1, help="source addresses the slow sockets are spread over")
    ap.add_argument("--seconds", type=float, default=40.0, help="how long the slow bodies trickle")
    ap.add_argument("--only", choices=["keepalive", "slowbody"])
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))  # this client holds many sockets
    trees = [("this tree", ROOT, True)] + ([("baseline", args.baseline, False)] if args.baseline else [])
    print("command:", " ".join(sys.argv))
    if args.only in (None, "keepalive"):
        print(f"\nkeepalive: {args.connections} connections, one GET each, keep-alive timeout 5 s")
        for name, tree, new in trees:
            print(f"| {name} | " + " | ".join(f"{k}: {v}" for k, v in keepalive(tree, args.connections, args.wait, new).items()) + " |")
    if args.only in (None, "slowbody"):
        print(f"\nslowbody: {args.slow} sockets from {args.ips} address(es), 1 byte/s, daemon RLIMIT_NOFILE 1024, {args.seconds:.0f} s")
        for name, tree, new in trees:
            print(f"| {name} | " + " | ".join(f"{k}: {v}" for k, v in slowbody(tree, args.slow, args.ips, args.seconds, new).items()) + " |")


if __name__ == "__main__":
    main()
