"""The command line and the daemon as a real process (issue 2, API.md §9).

``python -m together_server`` is started as a subprocess; the URL comes from its log line.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from together_server import __version__

URL_RE = re.compile(r"listening on (http://[^\s]+)")
FAST_ARGON = "[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n[ratelimit]\nenabled = false\n"


def cli(*args: str, cwd: Path | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "together_server", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


class Proc:
    """A running ``serve``: its stderr lines are collected by a thread."""

    def __init__(self, args: list[str], cwd: Path | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "together_server", "serve", *args], cwd=cwd,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  preexec_fn=preexec_fn)
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line)

    def url(self, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                m = URL_RE.search(line)
                if m:
                    return m.group(1)
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("no URL logged: " + "".join(self.lines))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        rc = self.p.wait(timeout)
        self.close()
        return rc

    def close(self) -> None:
        self._t.join(5)
        if self.p.stdout is not None:
            self.p.stdout.close()


@contextmanager
def serving(args: list[str], cwd: Path | None = None) -> Iterator[Proc]:
    proc = Proc(args, cwd)
    try:
        yield proc
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.wait(10)
        proc.close()


def write_config(path: Path, extra: str = "") -> Path:
    path.write_text(FAST_ARGON + extra, encoding="utf-8")
    return path


def test_version() -> None:
    r = cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"together-server {__version__}"


def test_init_writes_a_config_serve_accepts(tmp_path: Path) -> None:
    r = cli("init", "together.toml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    conf = tmp_path / "together.toml"
    text = conf.read_text(encoding="utf-8")
    secret = re.search(r'^jwt_secret = "([^"]+)"', text, re.MULTILINE)
    assert secret and len(secret.group(1)) >= 32
    assert os.stat(conf).st_mode & 0o077 == 0
    assert cli("init", "together.toml", cwd=tmp_path).returncode == 1  # no silent overwrite
    with serving(["--config", str(conf), "--port", "0"], cwd=tmp_path) as proc:
        url = proc.url()
        assert httpx.get(url + "/health").json() == {"status": "ok"}
        assert proc.stop() == 0
    assert (tmp_path / "together-data" / "together.db").exists()  # data_dir relative to the config


def test_serve_lock_sigterm_and_checkpoint(tmp_path: Path) -> None:
    data = tmp_path / "data"
    conf = write_config(tmp_path / "t.toml")
    with serving(["--config", str(conf), "--port", "0", "--data-dir", str(data)]) as proc:
        url = proc.url()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/health").status_code == 200
        r = httpx.post(url + "/auth/register", json={"username": "walker", "password": "correct horse"})
        assert r.status_code == 201
        second = cli("serve", "--config", str(conf), "--port", "0", "--data-dir", str(data))
        assert second.returncode == 1
        assert "already running" in second.stderr and str(data) in second.stderr
        assert "Traceback" not in second.stderr
        assert httpx.get(url + "/health").status_code == 200  # the first one is unharmed
        assert proc.stop(signal.SIGTERM) == 0
    wal = data / "together.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_bad_config_exits_1_naming_the_key(tmp_path: Path) -> None:
    for extra, key in (("[server]\nbogus_key = 1\n", "bogus_key"),
                       ("[ratelimit.ip]\ncapacity = 0\n", "ratelimit.ip.capacity"),
                       ("[auth]\nregistration = \"sometimes\"\n", "auth.registration")):
        conf = tmp_path / "bad.toml"
        conf.write_text(extra, encoding="utf-8")
        r = cli("serve", "--config", str(conf), "--port", "0", "--data-dir", str(tmp_path / "d"))
        assert r.returncode == 1, r.stderr
        assert key in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists() or not (tmp_path / "d" / "together.db").exists()


def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    conf = write_config(tmp_path / "t.toml")
    args = ["--config", str(conf), "--port", "0", "--data-dir", str(data)]
    acked: list[str] = []
    with serving(args) as proc:
        url = proc.url()
        with httpx.Client(base_url=url, timeout=10) as c:
            r = c.post("/auth/register", json={"username": "poster", "password": "correct horse"})
            token = r.json()["access_token"]
            h = {"Authorization": f"Bearer {token}"}
            srv = c.post("/servers", json={"name": "crash"}, headers=h).json()
            chan = c.post(f"/servers/{srv['id']}/channels", json={"name": "c", "type": "text"}, headers=h).json()
            stop = threading.Event()

            def post_loop() -> None:
                with httpx.Client(base_url=url, timeout=10) as pc:
                    i = 0
                    while not stop.is_set():
                        try:
                            r = pc.post(f"/channels/{chan['id']}/messages", json={"content": f"m{i}"}, headers=h)
                        except httpx.HTTPError:
                            return
                        if r.status_code == 201:
                            acked.append(r.json()["id"])
                        i += 1

            threads = [threading.Thread(target=post_loop) for _ in range(3)]
            for t in threads:
                t.start()
            while len(acked) < 60:
                time.sleep(0.01)
            proc.p.kill()  # SIGKILL while the posters are still posting
            proc.p.wait(10)
            stop.set()
            for t in threads:
                t.join(15)
    assert len(acked) >= 60
    with serving(args) as proc2:
        url = proc2.url()
        with httpx.Client(base_url=url, timeout=10) as c:
            r = c.post("/auth/login", json={"username": "poster", "password": "correct horse"})
            h = {"Authorization": f"Bearer {r.json()['access_token']}"}
            seen: list[str] = []
            page = c.get(f"/channels/{chan['id']}/messages", params={"limit": 100}, headers=h).json()
            while page:
                seen += [m["id"] for m in page]
                page = c.get(f"/channels/{chan['id']}/messages", params={"limit": 100, "before": page[-1]["id"]},
                             headers=h).json()
        assert set(acked) <= set(seen)
        assert proc2.stop() == 0


def test_listen_failures_exit_1_with_one_line(tmp_path: Path) -> None:
    """A bad host or a port in use refuses the start with one line, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host in ("127.0.0.1", "999.1.1.1"):
            r = cli("serve", "--host", host, "--port", str(port), "--data-dir", str(tmp_path / host))
            assert r.returncode == 1, r.stderr
            assert f"cannot listen on {host}:{port}" in r.stderr
            assert "Traceback" not in r.stderr


def test_sigterm_does_not_wait_for_idle_keepalive_connections(tmp_path: Path) -> None:
    """An idle keep-alive client (a browser tab) must not hold the shutdown for the whole
    grace period: the server exits once the requests in flight are done."""
    conf = write_config(tmp_path / "t.toml", "[server]\nshutdown_grace_seconds = 60\n")
    with serving(["--config", str(conf), "--port", "0", "--data-dir", str(tmp_path / "d")]) as proc:
        url = proc.url()
        with httpx.Client(base_url=url) as client:  # keeps its connection open
            assert client.get("/health").status_code == 200
            assert proc.stop(timeout=20) == 0  # well inside the 60 s grace


def test_an_out_of_range_port_option_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """``serve --port 99999`` is refused like ``server.port = 99999``: one line, exit 1, no data dir."""
    for port in ("99999", "-1"):
        done = cli("serve", "--port", port, "--data-dir", str(tmp_path / "d"))
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "server.port" in lines[0], done.stderr
        assert not (tmp_path / "d").exists()
