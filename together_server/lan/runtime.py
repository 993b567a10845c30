"""LAN mode and HTTPS inside the daemon (issue 14): what ``daemon.py`` calls.

``prepare(cfg)`` (blocking: a thread) runs before hypercorn starts and returns None when
neither ``server.lan`` nor ``server.tls_cert`` is set (then nothing changes). Otherwise it
creates/loads the certificate, builds the TLS context and binds the listening socket (LAN
mode: ``::`` dual stack on all interfaces, plus port+1 for the CA page), so a refused
bind is a one-line start error. ``Lan.configure(hc)`` hands both to hypercorn;
``Lan.run`` (in the daemon's nursery, after listening) prints the banner, serves the CA
page, announces over mDNS and checks every :data:`CHECK_SECONDS` whether the addresses
changed or the leaf nears expiry, then renews, reloads and re-announces.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import attrs
import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .. import __version__
from . import addresses as addr
from . import banner, certs, plainhttp, tls, trust_page
from .mdns import Announcer

log = logging.getLogger("together_server.lan")

CHECK_SECONDS = 30.0
ALL_INTERFACES = ("127.0.0.1", "localhost", "::", "0.0.0.0", "")


class LanError(Exception):
    """A refused LAN/TLS start (bad certificate files, port in use); the message says why."""


@attrs.define
class Lan:
    """The live LAN/TLS state. ``public()`` is the ``GET /lan`` answer."""
    lan: bool
    host: str
    port: int
    sock: socket.socket
    ctx: ssl.SSLContext
    fingerprint: str
    not_after: dt.datetime
    data_dir: Path
    own_cert: bool
    local_name: str = ""
    addresses: list[addr.IPAddress] = attrs.field(factory=list)  # every interface address (SANs)
    ca_sock: socket.socket | None = None
    ca_fingerprint: str | None = None
    ca_pem: bytes = b""
    announcer: Announcer | None = None

    # --- what people see -------------------------------------------------------------
    @property
    def url_addresses(self) -> list[addr.IPAddress]:
        if self.host in ("::", "0.0.0.0"):
            return addr.reachable(self.addresses)
        return [ipaddress.ip_address(self.host)]

    def urls(self) -> list[str]:
        if not self.lan:
            return []
        return addr.lan_urls(self.url_addresses, self.local_name, self.port)

    def trust_url(self) -> str | None:
        if self.ca_sock is None or not self.url_addresses:
            return None
        return addr.url_for(self.url_addresses[0], self.ca_port, "http")

    @property
    def ca_port(self) -> int:
        return tls.bound_port(self.ca_sock) if self.ca_sock is not None else 0

    def public(self) -> dict[str, Any]:
        """``GET /lan``: ``{lan, urls, local_name, port, tls_sha256, ca_sha256, trust_url}``."""
        return {
            "lan": self.lan, "urls": self.urls(), "local_name": self.local_name if self.lan else None,
            "port": self.port, "tls_sha256": self.fingerprint, "ca_sha256": self.ca_fingerprint,
            "trust_url": self.trust_url(),
        }

    def txt(self) -> dict[str, str]:
        return {"name": addr.local_name().removesuffix(".local"), "version": __version__, "api": "/",
                "path": "/", "tls_sha256": self.fingerprint, "ca_sha256": self.ca_fingerprint or ""}

    def pages(self) -> dict[str, tuple[str, bytes]]:
        der = x509.load_pem_x509_certificate(self.ca_pem).public_bytes(serialization.Encoding.DER)
        html = trust_page.render(self.urls(), self.ca_fingerprint or "")
        return {
            "/": ("text/html; charset=utf-8", html),
            "/ca.crt": ("application/x-x509-ca-cert", self.ca_pem),
            "/ca.pem": ("application/x-pem-file", self.ca_pem),
            "/ca.der": ("application/x-x509-ca-cert", der),
        }

    def banner(self) -> str:
        return banner.banner(self.urls(), self.fingerprint, self.trust_url(), self.ca_fingerprint)

    # --- hypercorn -----------------------------------------------------------------
    def configure(self, hc: Any) -> None:
        """Give hypercorn our socket and TLS context; plain HTTP on it is redirected."""
        plainhttp.install()
        tls.configure(hc, self.ctx, self.sock)

    # --- certificates -------------------------------------------------------------
    def _names(self) -> list[str]:
        host = socket.gethostname()
        return list(dict.fromkeys([self.local_name, "localhost", host.split(".", 1)[0], host]))

    def issue(self, now: dt.datetime | None = None) -> bool:
        """(Re)issue the leaf for the current addresses if needed; True when it changed."""
        issued = certs.ensure(self.data_dir / "tls", self._names(), self.addresses, now)
        self.ca_fingerprint = issued.ca_fingerprint
        self.ca_pem = issued.ca_cert.read_bytes()
        changed = issued.fingerprint != self.fingerprint
        if changed:
            tls.reload(self.ctx, issued.cert, issued.key)
        self.fingerprint, self.not_after = issued.fingerprint, issued.not_after
        return changed

    def check(self, now: dt.datetime | None = None) -> bool:
        """One periodic check (blocking): new addresses or a leaf near expiry → renew.
        Returns True when the certificate was renewed."""
        if self.own_cert:
            return False
        now = now or dt.datetime.now(dt.UTC)
        current = _sans(addr.interface_addresses())
        if current == self.addresses and self.not_after - now > certs.RENEW_BEFORE:
            return False
        self.addresses = current
        return self.issue(now)

    # --- running -------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Print the banner, serve the CA page, announce, keep the certificate fresh (until cancelled)."""
        _print(self.banner() if self.lan else f"HTTPS certificate SHA-256: {self.fingerprint}\n")
        async with trio.open_nursery() as nursery:
            if self.ca_sock is not None:
                await nursery.start(plainhttp.serve_ca, self.ca_sock, self.pages)
            task_status.started()
            try:
                if self.lan:
                    self.announcer = Announcer(self.local_name, self.port, self.url_addresses, self.txt())
                    await trio.to_thread.run_sync(self.announcer.start)
                while True:
                    await trio.sleep(CHECK_SECONDS)
                    try:
                        renewed = await trio.to_thread.run_sync(self.check)
                    except OSError as exc:
                        log.error("certificate renewal failed: %s", exc)
                        continue
                    if renewed:
                        log.info("certificate renewed (addresses or expiry): SHA-256 %s", self.fingerprint)
                        _print(self.banner())
                        if self.announcer is not None:
                            await trio.to_thread.run_sync(self.announcer.update, self.url_addresses, self.txt())
            finally:
                with trio.CancelScope(shield=True):
                    if self.announcer is not None:
                        await trio.to_thread.run_sync(self.announcer.close)
                        self.announcer = None
                    for s in (self.sock, self.ca_sock):
                        if s is not None:
                            s.close()


def _print(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _sans(found: list[addr.IPAddress]) -> list[addr.IPAddress]:
    """Interface addresses that go into the certificate (all but unspecified/multicast)."""
    return [a for a in found if not (a.is_unspecified or a.is_multicast)]


def prepare(cfg: Any) -> Lan | None:
    """Certificates, TLS context and sockets for ``cfg`` (blocking). None when LAN mode and
    TLS are both off. Raises LanError (unreadable tls_cert/tls_key, bind refused)."""
    server = cfg.server
    if not server.lan and not server.tls_cert:
        return None
    host = "::" if server.lan and server.host in ALL_INTERFACES else server.host
    data_dir = cfg.data_path
    own = bool(server.tls_cert)
    lan = Lan(lan=server.lan, host=host, port=server.port, sock=None,  # type: ignore[arg-type]
              ctx=None, fingerprint="", not_after=dt.datetime.now(dt.UTC),  # type: ignore[arg-type]
              data_dir=data_dir, own_cert=own, local_name=addr.local_name())
    lan.addresses = _sans(addr.interface_addresses())
    if own:
        cert, key = _resolve(cfg, server.tls_cert), _resolve(cfg, server.tls_key)
        try:
            lan.ctx = tls.make_context(cert, key)
            lan.fingerprint, lan.not_after = certs.load_fingerprint(cert)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise LanError(f"server.tls_cert/tls_key: cannot load {cert} / {key}: {exc}") from None
    else:
        issued = certs.ensure(data_dir / "tls", lan._names(), lan.addresses)
        lan.ctx = tls.make_context(issued.cert, issued.key)
        lan.fingerprint, lan.not_after = issued.fingerprint, issued.not_after
        lan.ca_fingerprint, lan.ca_pem = issued.ca_fingerprint, issued.ca_cert.read_bytes()
    try:
        lan.sock = tls.listen_socket(host, server.port)
        lan.port = tls.bound_port(lan.sock)
        if server.lan and not own:
            lan.ca_sock = tls.listen_socket(host, lan.port + 1 if lan.port < 65535 else 0)
    except OSError as exc:
        if lan.sock is not None:
            lan.sock.close()
        where = f"{host}:{lan.port + 1 if lan.sock is not None else server.port}"
        raise LanError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return lan


def _resolve(cfg: Any, path: str | None) -> Path:
    p = Path(path or "").expanduser()
    return p if p.is_absolute() else (Path(cfg.base_dir) / p).resolve()
