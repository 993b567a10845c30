"""TLS for hypercorn: a reloadable context and dual-stack listening sockets (issue 14).

hypercorn builds its TLS context and sockets from its config; :func:`configure` gives the
config ours instead, so a renewed leaf is loaded into the *same* context (new connections
get it, open ones keep theirs) and ``::`` listens on IPv4 and IPv6 whatever
``net.ipv6.bindv6only`` says. Plain HTTP arriving on the HTTPS port is answered by
:mod:`.plainhttp` (a redirect), see :func:`.plainhttp.install`.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets


def make_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context (TLS ≥ 1.2, ALPN http/1.1) holding ``cert`` (PEM chain) + ``key``.
    Raises ssl.SSLError / OSError when they cannot be loaded."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return ctx


def listen_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket on ``host:port``. ``"::"`` is dual stack (IPv6 and IPv4-mapped);
    where IPv6 is missing, ``"::"`` falls back to ``0.0.0.0``. Raises OSError (in use, no such address)."""
    if ":" in host:
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        except OSError:
            if host != "::":
                raise
            return listen_socket("0.0.0.0", port, backlog)
        if host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def configure(hc: HypercornConfig, ctx: ssl.SSLContext | None, sock: socket.socket) -> None:
    """Make hypercorn serve ``sock`` (already listening), with TLS from ``ctx`` when given."""
    secure = ctx is not None

    def create_sockets() -> Sockets:
        return Sockets([sock] if secure else [], [] if secure else [sock], [])

    def create_ssl_context() -> ssl.SSLContext | None:
        return ctx

    hc.create_sockets = create_sockets  # type: ignore[method-assign]
    hc.create_ssl_context = create_ssl_context  # type: ignore[method-assign]
    if secure:  # hypercorn's ssl_enabled is "certfile and keyfile are set"
        hc.certfile = hc.keyfile = "(together_server.lan.tls)"


def reload(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    """Load a renewed certificate into the running context (new handshakes use it)."""
    ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))


def bound_port(sock: Any) -> int:
    return int(sock.getsockname()[1])
