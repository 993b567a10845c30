"""mDNS / DNS-SD (issue 14): announce this server, and find others (``together-server discover``).

The server is published as ``_together._tcp.local.`` and ``_https._tcp.local.`` under the
instance name ``together-server on <host>`` with the host record ``<host>.local.`` (so the
``.local`` URL resolves) and a TXT record: ``name``, ``version``, ``api`` (the API's path,
``/``), ``path`` (the DNS-SD key for a web page's path), ``tls_sha256`` (the served
certificate's SHA-256, ``AB:CD:...``) and ``ca_sha256``. The announcer opens its sockets
only on the addresses it is given (never ``InterfaceChoice.All``). Blocking (zeroconf's
sync API runs its own thread): call from ``trio.to_thread``.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable

import attrs
from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceListener, Zeroconf

from .addresses import IPAddress

log = logging.getLogger(__name__)

TOGETHER = "_together._tcp.local."
HTTPS = "_https._tcp.local."
SERVICE_TYPES = (TOGETHER, HTTPS)


def instance_name(local_name: str) -> str:
    """``together-server on <host>`` from ``<host>.local``."""
    return f"together-server on {local_name.removesuffix('.local')}"[:63]


class Announcer:
    """Publishes both service types for ``port`` on ``addresses``; ``update`` re-announces
    (new addresses or fingerprint), ``close`` says goodbye (TTL 0) and closes the sockets."""

    def __init__(self, local_name: str, port: int, addresses: Iterable[IPAddress],
                 properties: dict[str, str]) -> None:
        self.local_name = local_name
        self.port = port
        self.addresses = list(addresses)
        self.properties = dict(properties)
        self._zc: Zeroconf | None = None
        self._infos: list[ServiceInfo] = []

    def _build(self) -> list[ServiceInfo]:
        name = instance_name(self.local_name)
        return [
            ServiceInfo(kind, f"{name}.{kind}", port=self.port, properties=self.properties,
                        server=f"{self.local_name}.", parsed_addresses=[str(a) for a in self.addresses])
            for kind in SERVICE_TYPES
        ]

    def start(self) -> None:
        """Open sockets on our addresses and register both services (probing takes ~2 s)."""
        if not self.addresses:
            log.warning("mDNS: no network address to announce on")
            return
        self._zc = Zeroconf(interfaces=[str(a) for a in self.addresses])
        self._infos = self._build()
        for info in self._infos:
            self._zc.register_service(info, allow_name_change=True)

    def update(self, addresses: Iterable[IPAddress], properties: dict[str, str]) -> None:
        """Announce new addresses / TXT: goodbye, then register again (rare: DHCP, renewal)."""
        self.close()
        self.addresses, self.properties = list(addresses), dict(properties)
        self.start()

    def close(self) -> None:
        if self._zc is None:
            return
        try:
            self._zc.unregister_all_services()
        finally:
            self._zc.close()
            self._zc = None


@attrs.frozen
class Found:
    """One server seen on the network: instance name, host name, addresses, port, TXT."""
    name: str
    server: str
    addresses: tuple[str, ...]
    port: int
    properties: dict[str, str]

    def urls(self) -> list[str]:
        from .addresses import url_for

        out = [url_for(ipaddress.ip_address(a), self.port) for a in self.addresses]
        return out + ([url_for(self.server.rstrip("."), self.port)] if self.server else [])


class _Collect(ServiceListener):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.add(name)

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.add(name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.discard(name)


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


def browse(seconds: float = 3.0, interfaces: list[str] | None = None) -> list[Found]:
    """Listen for ``_together._tcp`` for ``seconds`` and resolve every server seen.
    ``interfaces``: addresses to listen on (None: every interface)."""
    zc = Zeroconf(interfaces=interfaces) if interfaces else Zeroconf()
    try:
        listener = _Collect()
        browser = ServiceBrowser(zc, TOGETHER, listener)
        time.sleep(seconds)
        browser.cancel()
        found = []
        for name in sorted(listener.names):
            info = zc.get_service_info(TOGETHER, name, timeout=1500)
            if info is None or info.port is None:
                continue
            props = {_text(k): _text(v) for k, v in info.properties.items()}
            addrs = tuple(sorted(info.parsed_addresses(IPVersion.All),
                                 key=lambda a: (":" in a, a)))
            found.append(Found(name=name.removesuffix("." + TOGETHER), server=info.server or "",
                               addresses=addrs, port=info.port, properties=props))
        return found
    finally:
        zc.close()


def format_found(found: list[Found]) -> str:
    """The ``discover`` listing: one block per server (name, URLs, version, fingerprint)."""
    if not found:
        return "no together-server found on this network\n"
    out = []
    for f in found:
        out.append(f"{f.properties.get('name') or f.name}")
        for url in f.urls():
            out.append(f"  {url}")
        out.append(f"  version {f.properties.get('version', '?')}, API path {f.properties.get('api', '/')}")
        if f.properties.get("tls_sha256"):
            out.append(f"  certificate SHA-256 {f.properties['tls_sha256']}")
    return "\n".join(out) + "\n"
