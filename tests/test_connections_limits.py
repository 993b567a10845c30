"""Running out of descriptors (issue 15 part 3): accept() failing with EMFILE backs off
and logs once per interval, and accepting pauses while the descriptor reserve is used.

The daemon is a subprocess whose ``RLIMIT_NOFILE`` the test lowers (at start through
``preexec_fn``, or on the running process with ``prlimit``); raw sockets are the clients.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.test_core_cli import FAST_ARGON, Proc


class Daemon(Proc):
    """``serve`` in a subprocess (optionally with ``RLIMIT_NOFILE`` = ``nofile``)."""

    def __init__(self, tmp: Path, extra: str = "", nofile: int | None = None) -> None:
        conf = tmp / "t.toml"
        conf.write_text(f'[server]\nport = 0\ndata_dir = "{tmp / "data"}"\n{extra}\n{FAST_ARGON}')

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        super().__init__(["--config", str(conf)], preexec_fn=limit)
        self.port = int(self.url().rsplit(":", 1)[1])

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.p.pid}/fd"))

    def log(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]


@contextmanager
def daemon(tmp: Path, **kw: Any) -> Iterator[Daemon]:
    d = Daemon(tmp, **kw)
    try:
        yield d
    finally:
        if d.p.poll() is None:
            d.p.kill()
            d.p.wait(10)
        d.close()


def health(port: int, timeout: float) -> int | None:
    """The status of GET /health on a fresh connection, or None without an answer in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = s.recv(4096)
            return int(data.split()[1]) if data else None
    except (TimeoutError, ConnectionError):
        return None


def hold(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        out.append(s)
    return out


def test_emfile_backs_off_and_logs_once(tmp_path: Path) -> None:
    with daemon(tmp_path) as d:
        assert health(d.port, 5) == 200
        base = d.fds()
        soft, hard = resource.prlimit(d.p.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(d.p.pid, resource.RLIMIT_NOFILE, (base + 8, hard))  # room for ~8 more
        held = hold(d.port, 40)  # the rest wait in the listen backlog
        try:
            time.sleep(3.0)  # ~15 failed accept() calls at the first back-off steps
            assert d.p.poll() is None
            lines = d.log("cannot accept connections: EMFILE")
            assert len(lines) == 1, "".join(d.lines[-20:])
            assert "Traceback" not in "".join(d.lines)
            assert d.fds() <= base + 8
        finally:
            for s in held:
                s.close()
        resource.prlimit(d.p.pid, resource.RLIMIT_NOFILE, (soft, hard))
        deadline = time.monotonic() + 10
        while health(d.port, 2) != 200:
            assert time.monotonic() < deadline, "the server did not recover"
        assert d.stop() == 0


def test_accepting_pauses_at_the_descriptor_reserve(tmp_path: Path) -> None:
    """With 160 descriptors, accepting pauses at 160 - 64 open connections, before any
    accept() fails; a closed connection lets the next one in."""
    with daemon(tmp_path, nofile=160) as d:
        assert health(d.port, 5) == 200
        held = hold(d.port, 96)
        try:
            time.sleep(0.5)
            assert health(d.port, 1.0) is None  # waits in the backlog
            assert len(d.log("not accepting until one closes")) == 1
            for s in held[:5]:
                s.close()
            assert health(d.port, 5) == 200, "".join(d.lines)  # the waiting one was accepted, then this one
            assert not d.log("cannot accept connections")
            assert "Traceback" not in "".join(d.lines)
        finally:
            for s in held:
                s.close()
        assert d.stop() == 0
