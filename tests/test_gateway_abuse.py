"""A client that breaks the WebSocket protocol hurts only its own connection.

* Bytes right behind an upgrade request (a body, an early frame) made hypercorn send two
  answers on one connection; the h11 error escaped and stopped the whole daemon.
* After the server closed a socket for an oversized frame (1009), it kept buffering
  the rest of that endless frame.
"""

from __future__ import annotations

import socket
import struct

import trio
from conftest import Users
from test_gateway_client import RawWs

from together_server.daemon import Running

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def _upgrade_with_body(host: str, port: int, auth: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(UPGRADE + auth + b"Content-Length: 2\r\n\r\n{}")
        try:
            return s.recv(4096)
        except OSError:
            return b""


async def test_bytes_behind_an_upgrade_do_not_stop_the_server(shared: Running, users: Users) -> None:
    alice = await users.new("abuse")
    for auth in (b"", f"Authorization: Bearer {alice.token}\r\n".encode(), b"Authorization: Bearer nope\r\n"):
        for _ in range(3):
            answer = await trio.to_thread.run_sync(_upgrade_with_body, shared.host, shared.port, auth)
            assert not answer.startswith(b"HTTP/1.1 101"), answer
    r = await alice.get("/health")
    assert r.status_code == 200
    assert (await alice.get("/users/@me")).status_code == 200


def _endless_frame(base: str, token: str) -> int:
    """Announce a 200 MiB text frame and stream it; return the bytes sent before the
    server dropped the connection (0 if it never did within 8 MiB)."""
    raw = RawWs.open(base, token)
    sock = raw.sock
    sock.settimeout(5)
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 200 * 1024 * 1024) + b"\x00\x00\x00\x00"
    sock.sendall(header)
    chunk = b"a" * 16384
    sent = 0
    try:
        while sent < 8 * 1024 * 1024:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        return sent
    finally:
        sock.close()
    return 0


async def test_no_buffering_after_a_1009_close(shared: Running, users: Users) -> None:
    alice = await users.new("endless")
    sent = await trio.to_thread.run_sync(_endless_frame, shared.url, alice.token)
    # the close comes after 64 KiB; the connection is dropped 64 KiB of buffering later,
    # plus whatever the kernel's socket buffers held
    assert 0 < sent < 4 * 1024 * 1024, sent
    assert (await alice.get("/health")).status_code == 200
