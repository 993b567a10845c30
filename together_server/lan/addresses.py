"""The machine's addresses and the URLs a LAN guest can open (issue 14).

Pure functions over ``ifaddr`` (a ``zeroconf`` dependency); no packet is sent.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import ifaddr

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def interface_addresses() -> list[IPAddress]:
    """Every address configured on this machine's interfaces (loopback included), sorted, unique."""
    found: set[IPAddress] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            raw = ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
            try:
                found.add(ipaddress.ip_address(raw.split("%", 1)[0]))
            except ValueError:
                continue
    return sorted(found, key=lambda a: (a.version, int(a)))


def reachable(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    """The addresses other machines can use in a URL: not loopback, not link-local (a
    link-local IPv6 URL needs a zone id browsers do not accept), not unspecified or multicast.
    IPv4 first, in address order."""
    keep = [
        a for a in addresses
        if not (a.is_loopback or a.is_link_local or a.is_unspecified or a.is_multicast)
    ]
    return sorted(set(keep), key=lambda a: (a.version, int(a)))


def local_name(hostname: str | None = None) -> str:
    """This host's mDNS name, e.g. ``partybox.local`` (the first label of the host name,
    lower-cased, anything outside ``[a-z0-9-]`` replaced by ``-``)."""
    label = (hostname or socket.gethostname()).split(".", 1)[0].lower()
    label = "".join(c if c.isascii() and (c.isalnum() or c == "-") else "-" for c in label).strip("-")
    return f"{label or 'together'}.local"


def url_for(host: IPAddress | str, port: int, scheme: str = "https") -> str:
    """``scheme://host:port/`` with IPv6 in brackets and the default port left out."""
    text = str(host)
    if ":" in text:
        text = f"[{text}]"
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{text}/" if port == default else f"{scheme}://{text}:{port}/"


def lan_urls(addresses: Iterable[IPAddress], name: str, port: int, scheme: str = "https") -> list[str]:
    """One URL per reachable address, then the ``.local`` name: what the banner prints."""
    return [url_for(a, port, scheme) for a in reachable(addresses)] + [url_for(name, port, scheme)]
