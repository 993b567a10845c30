"""Network address rules shared by the config loader and the rate limiter (API.md §5, §9).

A leaf module: the standard library only, so ``config`` can validate
``server.trusted_proxies`` without importing any layer above it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted(entries: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse ``server.trusted_proxies`` (§9): single IPs and CIDR ranges, v4 or v6.

    Returns networks (an IP becomes a /32 or /128; IPv4-mapped IPv6 ranges become IPv4).
    Raises ``ValueError`` naming the index and value of the first bad entry: not a string,
    not an address or range, or a range with host bits set (``10.0.0.1/8``).
    """
    out: list[IPNetwork] = []
    for i, entry in enumerate(entries):
        where = f"trusted_proxies[{i}] = {entry!r}"
        if not isinstance(entry, str):
            # ValueError, not TypeError: the config loader reports every bad entry the same way.
            raise ValueError(f"{where}: must be a string (an IP address or CIDR range)")  # noqa: TRY004
        text = entry.strip()
        try:
            net = ipaddress.ip_network(text)
        except ValueError:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(
                    f"{where}: not an IP address or CIDR range"
                    " (e.g. '10.0.0.1', '10.0.0.0/8', 'fd00::/8')"
                ) from None
            raise ValueError(
                f"{where}: host bits are set; did you mean '{loose}'?"
            ) from None
        if isinstance(net, ipaddress.IPv6Network):
            mapped = net.network_address.ipv4_mapped
            if mapped is not None and net.prefixlen >= 96:
                net = ipaddress.IPv4Network(f"{mapped}/{net.prefixlen - 96}")
        out.append(net)
    return tuple(out)
