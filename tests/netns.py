"""Test network namespaces (issue 14 safety rule): two namespaces joined by a veth pair,
addresses of our choosing, nothing routed out, torn down at the end.

Multicast (mDNS), ``serve --lan`` and ``discover`` run only in here, never on the machine's
real interfaces. ``Pair.run_in(ns, fn)`` runs ``fn`` on a thread that has entered ``ns``
(``setns(2)`` is per thread; threads it starts inherit it), so a test's HTTP/TLS/zeroconf
client code runs in-process. Needs root and iproute2's ``ip``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


class Pair:
    """Namespaces ``a`` and ``b`` with ``veth`` ends ``addr_a``/``addr_b`` (IPv4 /24 and IPv6 /64)."""

    def __init__(self, tag: str, subnet: int = 77) -> None:
        self.tag = tag
        self.a, self.b = f"tsa-{tag}", f"tsb-{tag}"
        self.v4_a, self.v4_b = f"10.{subnet}.0.1", f"10.{subnet}.0.2"
        self.v6_a, self.v6_b = f"fd00:{subnet}::1", f"fd00:{subnet}::2"

    def __enter__(self) -> Pair:
        try:
            _ip("netns", "add", self.a)
            _ip("netns", "add", self.b)
            va, vb = f"va{self.tag}"[:15], f"vb{self.tag}"[:15]
            _ip("link", "add", va, "type", "veth", "peer", "name", vb)
            _ip("link", "set", va, "netns", self.a)
            _ip("link", "set", vb, "netns", self.b)
            for ns, dev, v4, v6 in ((self.a, va, self.v4_a, self.v6_a), (self.b, vb, self.v4_b, self.v6_b)):
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
                _ip("-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
                _ip("-n", ns, "link", "set", dev, "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)

    def exec_args(self, ns: str) -> list[str]:
        """Prefix to run a command inside ``ns``."""
        return ["ip", "netns", "exec", ns]

    def run_in(self, ns: str, fn: Callable[..., T], *args: Any, timeout: float = 120.0) -> T:
        """``fn(*args)`` on a fresh thread inside ``ns``; its result or its exception."""
        out: dict[str, Any] = {}

        def body() -> None:
            try:
                enter(ns)
                out["value"] = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                out["error"] = exc

        t = threading.Thread(target=body, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise TimeoutError(f"{fn!r} in {ns} took over {timeout} s")
        if "error" in out:
            raise out["error"]
        return out["value"]  # type: ignore[no-any-return]


def enter(ns: str) -> None:
    """Move the calling thread into network namespace ``ns`` (``setns(2)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


class LanHost:
    """``together-server serve --lan`` running in namespace ``ns``; ``out`` is its stdout."""

    def __init__(self, pair: Pair, data_dir: Path, config: Path, port: int) -> None:
        self.pair, self.data_dir, self.config, self.port = pair, data_dir, config, port
        self.out = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        self.out = ""
        self.proc = subprocess.Popen(
            [*self.pair.exec_args(self.pair.a), sys.executable, "-m", "together_server", "serve", "--lan",
             "--port", str(self.port), "--config", str(self.config), "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        done = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.out += line
                if "CA SHA-256" in line:
                    done.set()
            done.set()
        self.threads = [threading.Thread(target=pump, daemon=True),
                        threading.Thread(target=lambda: self.proc.stderr.read(), daemon=True)]  # type: ignore[union-attr]
        for t in self.threads:
            t.start()
        assert done.wait(60), "no banner within 60 s"
        assert self.proc.poll() is None, f"serve --lan exited: {self.out}"
        return self.out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # our own child, by PID
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            for t in self.threads:
                t.join(10)
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
        self.proc = None
