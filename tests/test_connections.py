"""Connections that must not hold descriptors forever (issue 15 part 3, part 8 shutdown).

Raw sockets against a real daemon: ``Connection: close`` closes, idle keep-alive
connections close after ``server.keep_alive_timeout_seconds``, slow request bodies get
408 and are closed, a per-IP cap refuses extra connections with 429, requests during
shutdown get 503 with ``Connection: close``. The daemon runs in its own thread, so
these tests use plain blocking sockets (each with a timeout).
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ThreadDaemon, make_config
from together_server.daemon import Running

KEEP_ALIVE = 1.0
BODY_TIMEOUT = 1.0
MIN_RATE = 100  # bytes per second
PER_IP = 3


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    cfg = make_config(tmp_path_factory.mktemp("conns"), server={
        "host": "127.0.0.1", "port": 0, "keep_alive_timeout_seconds": KEEP_ALIVE,
        "body_timeout_seconds": BODY_TIMEOUT, "body_min_bytes_per_second": MIN_RATE,
        "max_connections_per_ip": PER_IP, "max_body_bytes": 4000,
    })
    d = ThreadDaemon(cfg)
    running = d.start()
    yield running
    d.stop()


def connect(running: Running, source: str = "127.0.0.1") -> socket.socket:
    s = socket.create_connection((running.host, running.port), timeout=10, source_address=(source, 0))
    s.settimeout(10)
    return s


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (Content-Length framed): status, headers, body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before a response: {buf!r}"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed inside the body"
        rest += chunk
    return status, headers, rest[:length]


def closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closes ``s`` (EOF or reset), or None if it stays open."""
    start = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


GET = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize("request_bytes", [
    b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"GET /health HTTP/1.0\r\n\r\n",
], ids=["connection-close", "http-1.0"])
def test_connection_close_closes_the_socket(served: Running, request_bytes: bytes) -> None:
    with connect(served) as s:
        s.sendall(request_bytes)
        status, _headers, _ = read_response(s)
        assert status == 200
        took = closed_within(s, 0.5)  # well before the keep-alive timeout
        assert took is not None, "the server kept a Connection: close connection open"


def test_413_closes_the_connection(served: Running) -> None:
    with connect(served) as s:
        s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 5000\r\n\r\n{")
        status, headers, body = read_response(s)
        assert status == 413 and json.loads(body)["code"] == "payload_too_large"
        assert headers.get("connection") == "close"
        assert closed_within(s, 0.5) is not None


def test_idle_keep_alive_connections_close_after_the_timeout(served: Running) -> None:
    socks = [connect(served) for _ in range(20)]
    try:
        for s in socks:
            s.sendall(GET)
            assert read_response(s)[0] == 200
        start = time.monotonic()
        for s in socks:
            left = KEEP_ALIVE + 2.0 - (time.monotonic() - start)
            assert closed_within(s, max(left, 0.01)) is not None, "an idle keep-alive connection stayed open"
        assert time.monotonic() - start >= KEEP_ALIVE * 0.8  # not closed at once either
    finally:
        for s in socks:
            s.close()


def test_a_busy_keep_alive_connection_stays_open(served: Running) -> None:
    """The timer counts idle time only: requests every half timeout keep it alive."""
    with connect(served) as s:
        for _ in range(4):  # 4 × 0.5 s = twice the timeout
            s.sendall(GET)
            assert read_response(s)[0] == 200
            time.sleep(KEEP_ALIVE / 2)
        s.sendall(GET)
        assert read_response(s)[0] == 200


def test_a_slow_body_gets_408_and_is_closed(served: Running) -> None:
    with connect(served) as s:
        s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 500\r\n\r\n")
        start = time.monotonic()
        for _ in range(40):  # one byte every 0.1 s, far below the minimum rate
            if select.select([s], [], [], 0.1)[0]:
                break  # the server answered
            s.send(b" ")
        took = time.monotonic() - start
        status, headers, body = read_response(s)
        assert status == 408
        assert json.loads(body)["code"] == "request_timeout"
        assert headers.get("connection") == "close"
        assert BODY_TIMEOUT * 0.9 <= took < BODY_TIMEOUT + 1.5
        assert closed_within(s, 1.0) is not None


def test_a_body_at_the_minimum_rate_is_not_cut(served: Running) -> None:
    """Each byte received extends the deadline: a steady upload (here ~1,000 B/s for
    3 s, three times the fixed timeout) is answered normally."""
    body = json.dumps({"username": "nobody", "password": "x" * 2980}).encode()
    with connect(served) as s:
        s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        for i in range(0, len(body), 300):
            s.sendall(body[i:i + 300])
            time.sleep(0.3)
        status, _headers, answer = read_response(s)
        assert status in (400, 401), answer  # the handler saw the whole body
        assert json.loads(answer)["code"] != "request_timeout"


def test_slow_headers_are_cut_at_the_keep_alive_timeout(served: Running) -> None:
    with connect(served) as s:
        s.sendall(b"GET /health HTTP/1.1\r\n")
        start = time.monotonic()
        s.settimeout(0.2)
        closed = False
        while time.monotonic() - start < KEEP_ALIVE + 2:
            try:
                s.send(b"X")  # a header line that never ends, 5 bytes a second
                if s.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed


def test_per_ip_cap_refuses_with_429(served: Running) -> None:
    """Connections from one address beyond ``server.max_connections_per_ip`` get 429
    too_many_connections and are closed; the machine itself (127.0.0.1) is not capped;
    a freed slot admits the next one."""
    held = [connect(served, "127.0.0.2") for _ in range(PER_IP)]
    try:
        for s in held:  # each is really served
            s.sendall(GET)
            assert read_response(s)[0] == 200
        with connect(served, "127.0.0.2") as extra:
            status, headers, body = read_response(extra)
            assert status == 429 and json.loads(body)["code"] == "too_many_connections"
            assert headers.get("connection") == "close" and headers.get("retry-after") == "1"
            assert closed_within(extra, 2.0) is not None
        local = [connect(served) for _ in range(PER_IP + 2)]  # loopback itself: exempt
        for s in local:
            s.sendall(GET)
            assert read_response(s)[0] == 200
            s.close()
        with connect(served, "127.0.0.3") as other:  # another address has its own count
            other.sendall(GET)
            assert read_response(other)[0] == 200
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            with connect(served, "127.0.0.2") as again:
                again.sendall(GET)
                status = read_response(again)[0]
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200
    finally:
        for s in held:
            s.close()


def test_requests_during_shutdown_get_503_and_close(tmp_path: Path) -> None:
    """While shutdown waits for a request in flight, a request on another kept-alive
    connection is answered 503 with Connection: close (not dropped), and the request in
    flight still completes."""
    d = ThreadDaemon(make_config(tmp_path / "d", server={"shutdown_grace_seconds": 10.0}))
    running = d.start()
    busy = connect(running)
    idle = connect(running)
    try:
        idle.sendall(GET)
        assert read_response(idle)[0] == 200
        body = json.dumps({"username": "nobody", "password": "whatever"}).encode()
        busy.sendall(b"POST /auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5])
        deadline = time.monotonic() + 5
        while running.state.inflight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.state.inflight == 1
        assert d._token is not None
        d._token.run_sync_soon(running.shutdown)
        while not running.state.shutting_down:
            time.sleep(0.01)
        time.sleep(0.2)
        idle.sendall(GET)
        status, headers, answer = read_response(idle)
        assert status == 503 and json.loads(answer)["code"] == "service_unavailable"
        assert headers.get("connection") == "close" and "retry-after" in headers
        assert closed_within(idle, 2.0) is not None
        busy.sendall(body[5:])
        status, _headers, answer = read_response(busy)
        assert status == 401 and json.loads(answer)["code"] == "invalid_credentials"
    finally:
        busy.close()
        idle.close()
        d.stop()


def test_a_client_that_leaves_frees_its_connection_at_once(served: Running) -> None:
    """A peer that connects and closes (or closes after its answer) is gone in well under
    the keep-alive timeout: hypercorn used to hold it until the timer fired."""
    guard = served.state.extras["connections"]
    before = guard.open
    socks = [connect(served) for _ in range(10)]
    socks[0].sendall(GET)
    assert read_response(socks[0])[0] == 200
    deadline = time.monotonic() + 5
    while guard.open < before + 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert guard.open >= before + 10
    for s in socks:
        s.close()
    deadline = time.monotonic() + KEEP_ALIVE / 2
    while guard.open > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert guard.open <= before


def test_which_peers_are_capped_and_how_they_are_counted() -> None:
    """The cap's key: IPv4 as is, IPv4-mapped IPv6 as its IPv4, other IPv6 by /64; the
    machine itself and trusted proxies are not capped; 0 turns the cap off."""
    from together_server.connections import ConnectionGuard
    from together_server.netaddr import parse_trusted

    guard = ConnectionGuard(per_ip=2, exempt=parse_trusted(["10.0.0.0/8", "2001:db8:ff::/48"]), max_open=100)
    assert guard.key_for("203.0.113.7") == "203.0.113.7"
    assert guard.key_for("::ffff:203.0.113.7") == "203.0.113.7"
    assert guard.key_for("2001:db8:1:2::5") == guard.key_for("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert guard.key_for("127.0.0.1") is None and guard.key_for("::1") is None
    assert guard.key_for("::ffff:127.0.0.1") is None
    assert guard.key_for("127.0.0.2") == "127.0.0.2"  # only the machine's own address is exempt
    assert guard.key_for("10.1.2.3") is None and guard.key_for("2001:db8:ff:1::9") is None
    key = guard.key_for("198.51.100.1")
    assert guard.admit(key) and guard.admit(key) and not guard.admit(key)
    assert guard.open == 2
    guard.release(key)
    assert guard.admit(key) and guard.open == 2
    guard.release(key)
    guard.release(key)
    assert guard.by_key == {} and guard.open == 0
    assert ConnectionGuard(per_ip=0, exempt=(), max_open=10).key_for("198.51.100.1") is None


def test_throttled_logs_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from together_server.connections import Throttled

    logger = logging.getLogger("together_server.test_throttled")
    throttled = Throttled(logger, interval=0.2)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(50):
            throttled.warning("accept failed: %s", "EMFILE")
        time.sleep(0.25)
        throttled.warning("accept failed: %s", "EMFILE")
    lines = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert len(lines) == 2
    assert lines[0] == "accept failed: EMFILE"
    assert lines[1].startswith("accept failed: EMFILE (49 more times in the last")
