"""Plain HTTP in LAN mode (issue 14): the redirect on the HTTPS port and the CA page on port+1.

1. **Redirect.** A browser told ``http://host:8080`` speaks plain HTTP to the HTTPS port.
   :func:`install` wraps hypercorn's ``TCPServer.run``: on a TLS listener the first byte is
   peeked (``MSG_PEEK``, nothing consumed); a TLS handshake starts with 0x16, anything else
   gets ``308 Permanent Redirect`` to ``https://<Host><path>`` and the connection is closed.
2. **CA page.** :func:`serve_ca` answers ``GET /`` (how to trust the CA, per platform),
   ``GET /ca.crt`` (the CA certificate, PEM) and ``GET /ca.der`` on a plain listener: a guest
   must fetch the CA before HTTPS can be trusted. One request per connection, GET/HEAD only,
   heads capped at 8 KiB and 10 s.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Callable
from typing import Any

import trio

log = logging.getLogger(__name__)

HEAD_LIMIT = 8192
HEAD_TIMEOUT = 10.0
_HOST_OK = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_TARGET_OK = re.compile(r"^/[\x21-\x7e]*$")
_installed = False


async def read_head(stream: Any) -> tuple[str, str, dict[str, str]] | None:
    """Read one HTTP/1.x request head: ``(method, target, {lower-case name: value})``, or
    None when it is malformed, larger than HEAD_LIMIT or slower than HEAD_TIMEOUT."""
    data = b""
    with trio.move_on_after(HEAD_TIMEOUT):
        while b"\r\n\r\n" not in data and len(data) <= HEAD_LIMIT:
            chunk = await stream.receive_some(HEAD_LIMIT)
            if not chunk:
                break
            data += chunk
    if b"\r\n\r\n" not in data:
        return None
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


def response(status: str, headers: dict[str, str], body: bytes = b"", head_only: bool = False) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close",
             "Cache-Control: no-store", "X-Content-Type-Options: nosniff"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


def redirect_location(host_header: str | None, target: str, fallback_host: str) -> str:
    """``https://<host><target>``: the Host header if it is a plain host[:port], else the
    address the client reached; a target that is not an origin-form path becomes ``/``."""
    host = host_header if host_header and _HOST_OK.match(host_header) else fallback_host
    path = target if _TARGET_OK.match(target) else "/"
    return f"https://{host}{path}"


def _local_host(sock: Any) -> str:
    host, port = sock.getsockname()[:2]
    if host.startswith("::ffff:"):
        host = host[7:]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def redirect_plain(stream: trio.SocketStream) -> None:
    """Answer one plain-HTTP request on the HTTPS port with a 308 to HTTPS, then close."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        head = await read_head(stream)
        if head is None:
            await stream.send_all(response("400 Bad Request", {"Content-Type": "text/plain"},
                                           b"This port speaks HTTPS.\n"))
        else:
            method, target, headers = head
            location = redirect_location(headers.get("host"), target, _local_host(stream.socket))
            await stream.send_all(response("308 Permanent Redirect", {
                "Location": location, "Content-Type": "text/plain"}, f"{location}\n".encode(),
                head_only=method == "HEAD"))
    with contextlib.suppress(Exception):
        await stream.aclose()


def install() -> None:
    """Wrap hypercorn's ``TCPServer.run`` once: plain HTTP on a TLS listener is redirected."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:  # pragma: no cover - hypercorn changed
        log.warning("hypercorn TCPServer not found: plain HTTP is not redirected to HTTPS")
        return
    original = TCPServer.run

    async def run(self: Any) -> None:
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            transport = stream.transport_stream
            first = b""
            with trio.move_on_after(self.config.ssl_handshake_timeout), \
                    contextlib.suppress(OSError):
                first = await transport.socket.recv(1, socket.MSG_PEEK)
            if not first:
                with contextlib.suppress(Exception):
                    await transport.aclose()
                return
            if first[0] != 0x16:  # not a TLS handshake record
                await redirect_plain(transport)
                return
        await original(self)

    TCPServer.run = run  # type: ignore[method-assign]


async def serve_ca(
    listener_sock: socket.socket, pages: Callable[[], dict[str, tuple[str, bytes]]],
    *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``pages()`` (``{path: (content type, body)}``, read per request so a renewed
    certificate shows at once) over plain HTTP on ``listener_sock`` until cancelled."""
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(listener_sock))

    async def handle(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            head = await read_head(stream)
            if head is None:
                await stream.send_all(response("400 Bad Request", {"Content-Type": "text/plain"}, b"bad request\n"))
            else:
                method, target, _ = head
                found = pages().get(target.split("?", 1)[0])
                if method not in ("GET", "HEAD"):
                    await stream.send_all(response("405 Method Not Allowed", {"Allow": "GET, HEAD"}))
                elif found is None:
                    await stream.send_all(response("404 Not Found", {"Content-Type": "text/plain"}, b"not found\n",
                                                   head_only=method == "HEAD"))
                else:
                    kind, body = found
                    extra = {"Content-Type": kind}
                    if target.startswith("/ca."):
                        extra["Content-Disposition"] = f'attachment; filename="together-ca{target[3:]}"'
                    await stream.send_all(response("200 OK", extra, body, head_only=method == "HEAD"))
        with contextlib.suppress(Exception):
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        task_status.started()
        await trio.serve_listeners(handle, [listener], handler_nursery=nursery)
