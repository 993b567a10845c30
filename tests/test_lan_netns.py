"""Issue 14 end to end inside two test-made network namespaces (never on real interfaces):
``serve --lan`` in namespace A, a guest in namespace B.

The guest fetches the CA over plain HTTP at port+1, then opens HTTPS on IPv4 and IPv6 with
only that CA trusted; the fingerprint the host printed is the one served; plain HTTP on the
HTTPS port redirects; ``/ice-servers`` is empty; a ``zeroconf`` browser and
``together-server discover`` in B see the announcement with its TXT record; a restart after
an address was added serves a new leaf for it under the same CA.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from netns import LanHost, Pair, available

from together_server.lan import certs

PORT = 8443
reason = available()
if reason:  # CI runs as root with iproute2 (.ci/run installs it): this never skips there
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pair, LanHost]]:
    base = tmp_path_factory.mktemp("lan")
    config = base / "together.toml"
    config.write_text('[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n[ratelimit]\nenabled = false\n')
    with Pair(f"{os.getpid() % 100000}", subnet=77) as pair:
        host = LanHost(pair, base / "data", config, PORT)
        host.start()
        try:
            yield pair, host
        finally:
            host.stop()


def _fingerprint(out: str, label: str = "Certificate SHA-256") -> str:
    m = re.search(rf"{label}: ([0-9A-F:]{{95}})", out)
    assert m, out
    return m.group(1)


def test_banner_prints_every_url_the_local_name_a_qr_and_the_trust_page(lan: tuple[Pair, LanHost]) -> None:
    pair, host = lan
    out = host.out
    assert f"https://{pair.v4_a}:{PORT}/" in out
    assert f"https://[{pair.v6_a}]:{PORT}/" in out
    assert re.search(rf"https://[a-z0-9-]+\.local:{PORT}/", out)
    assert "https://127.0.0.1" not in out and "fe80" not in out
    assert "▀" in out or "█" in out  # the QR code
    assert f"http://{pair.v4_a}:{PORT + 1}/" in out
    _fingerprint(out)


def _guest(pair: Pair, printed: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with httpx.Client(timeout=10) as plain:
        page = plain.get(f"http://{pair.v4_a}:{PORT + 1}/")
        out["page"] = (page.status_code, page.headers["content-type"], page.text)
        ca = plain.get(f"http://{pair.v4_a}:{PORT + 1}/ca.crt")
        out["ca"] = ca.content
        r = plain.get(f"http://{pair.v4_a}:{PORT}/docs")
        out["redirect"] = (r.status_code, r.headers.get("location"))
    ctx = ssl.create_default_context(cadata=out["ca"].decode())
    with httpx.Client(verify=ctx, timeout=10) as c:
        out["v4"] = c.get(f"https://{pair.v4_a}:{PORT}/health").json()
        out["v6"] = c.get(f"https://[{pair.v6_a}]:{PORT}/health").json()
        token = c.post(f"https://{pair.v4_a}:{PORT}/auth/register", json={
            "username": "guest", "password": "correct horse battery"}).json()["access_token"]
        out["ice"] = c.get(f"https://{pair.v4_a}:{PORT}/ice-servers",
                           headers={"Authorization": f"Bearer {token}"}).json()
        out["lan"] = c.get(f"https://{pair.v4_a}:{PORT}/instance/lan").json()
    import socket
    with socket.create_connection((pair.v4_a, PORT), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=pair.v4_a) as s:
        out["served"] = certs.fingerprint_der(s.getpeercert(binary_form=True))
    return out


def test_guest_trusts_the_ca_and_opens_https_on_ipv4_and_ipv6(lan: tuple[Pair, LanHost]) -> None:
    pair, host = lan
    got = pair.run_in(pair.b, _guest, pair, host.out)
    status, kind, page = got["page"]
    assert status == 200 and kind.startswith("text/html") and "Android" in page
    assert _fingerprint(host.out, "CA SHA-256") in page
    assert got["v4"] == got["v6"] == {"status": "ok"}
    assert got["served"] == _fingerprint(host.out)
    assert got["redirect"] == (308, f"https://{pair.v4_a}:{PORT}/docs")
    assert got["ice"]["iceServers"] == []
    lan_info = got["lan"]
    assert lan_info["lan"] is True and f"https://{pair.v4_a}:{PORT}/" in lan_info["urls"]
    assert lan_info["tls_sha256"] == got["served"]
    assert lan_info["trust_url"] == f"http://{pair.v4_a}:{PORT + 1}/"


def _browse(seconds: float) -> dict[str, Any]:
    from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

    from together_server.lan.mdns import HTTPS, TOGETHER

    seen: dict[str, Any] = {}

    class Listener(ServiceListener):
        def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            info = zc.get_service_info(type_, name, timeout=3000)
            if info is not None:
                seen[type_] = {"name": name, "port": info.port, "server": info.server,
                               "addresses": info.parsed_addresses(),
                               "txt": {k.decode(): (v or b"").decode() for k, v in info.properties.items()}}

        def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            pass

        def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
            pass

    zc = Zeroconf()  # inside namespace B: its only interfaces are lo and the veth end
    try:
        browsers = [ServiceBrowser(zc, kind, Listener()) for kind in (TOGETHER, HTTPS)]
        deadline = time.monotonic() + seconds
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        for b in browsers:
            b.cancel()
    finally:
        zc.close()
    return seen


def test_mdns_announcement_seen_from_the_other_namespace(lan: tuple[Pair, LanHost]) -> None:
    from together_server import __version__
    from together_server.lan.mdns import HTTPS, TOGETHER

    pair, host = lan
    seen = pair.run_in(pair.b, _browse, 20.0)
    assert set(seen) == {TOGETHER, HTTPS}, seen
    ours = seen[TOGETHER]
    assert ours["port"] == PORT and ours["server"].endswith(".local.")
    assert pair.v4_a in ours["addresses"] and pair.v6_a in ours["addresses"]
    txt = ours["txt"]
    assert txt["version"] == __version__ and txt["api"] == "/" and txt["name"]
    assert txt["tls_sha256"] == _fingerprint(host.out)
    assert txt["ca_sha256"] == _fingerprint(host.out, "CA SHA-256")
    assert seen[HTTPS]["txt"]["path"] == "/"


def test_discover_lists_the_server(lan: tuple[Pair, LanHost]) -> None:
    pair, host = lan
    done = subprocess.run(
        [*pair.exec_args(pair.b), sys.executable, "-m", "together_server", "discover", "--seconds", "4"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"https://{pair.v4_a}:{PORT}/" in done.stdout
    assert f"https://[{pair.v6_a}]:{PORT}/" in done.stdout
    assert _fingerprint(host.out) in done.stdout


def test_new_address_after_restart_gets_a_new_leaf_under_the_same_ca(lan: tuple[Pair, LanHost]) -> None:
    pair, host = lan
    before, ca_before = _fingerprint(host.out), _fingerprint(host.out, "CA SHA-256")
    host.stop()
    dev = f"va{pair.tag}"[:15]
    subprocess.run(["ip", "-n", pair.a, "addr", "add", "10.77.0.9/24", "dev", dev], check=True, timeout=20)
    out = host.start()
    assert "https://10.77.0.9:8443/" in out
    assert _fingerprint(out, "CA SHA-256") == ca_before and _fingerprint(out) != before

    def fetch() -> Any:
        ca = httpx.get(f"http://10.77.0.9:{PORT + 1}/ca.crt", timeout=10).text
        return httpx.get(f"https://10.77.0.9:{PORT}/health", verify=ssl.create_default_context(cadata=ca),
                         timeout=10).json()

    assert pair.run_in(pair.b, fetch) == {"status": "ok"}
