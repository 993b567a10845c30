"""Issue 14 without any network: address listing, URLs, the CA + leaf (creation, 0600 keys,
renewal on new addresses and before expiry, CA kept), banner QR, trust page."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import segno
from cryptography import x509

from together_server.lan import addresses as addr
from together_server.lan import banner, certs, trust_page

IP = ipaddress.ip_address
A1 = [IP("127.0.0.1"), IP("192.168.1.20"), IP("::1"), IP("fd00::20")]


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)}


def test_reachable_addresses_drop_loopback_link_local_and_sort_v4_first() -> None:
    found = [IP("fe80::1"), IP("::1"), IP("fd00::20"), IP("127.0.0.1"), IP("10.0.0.9"),
             IP("169.254.3.4"), IP("192.168.1.20"), IP("10.0.0.9")]
    assert addr.reachable(found) == [IP("10.0.0.9"), IP("192.168.1.20"), IP("fd00::20")]


def test_urls_bracket_ipv6_and_end_with_the_local_name() -> None:
    urls = addr.lan_urls([IP("192.168.1.20"), IP("fd00::20"), IP("127.0.0.1")], "partybox.local", 8080)
    assert urls == ["https://192.168.1.20:8080/", "https://[fd00::20]:8080/", "https://partybox.local:8080/"]
    assert addr.url_for("h.local", 443) == "https://h.local/"
    assert addr.url_for(IP("10.0.0.1"), 8081, "http") == "http://10.0.0.1:8081/"


def test_local_name_is_one_clean_label() -> None:
    assert addr.local_name("PartyBox.example.org") == "partybox.local"
    assert addr.local_name("my_box") == "my-box.local"
    assert addr.local_name("___") == "together.local"


def test_interface_addresses_include_loopback() -> None:
    assert IP("127.0.0.1") in addr.interface_addresses()


def test_first_start_creates_ca_and_leaf_with_private_keys(tmp_path: Path) -> None:
    tls_dir = tmp_path / "tls"
    issued = certs.ensure(tls_dir, ["partybox.local", "localhost"], A1)
    assert issued.renewed
    for name in ("ca.key", "server.key"):
        assert stat.S_IMODE((tls_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    assert _sans(issued.cert) == {"partybox.local", "localhost", "127.0.0.1", "192.168.1.20", "::1", "fd00::20"}
    ca = x509.load_pem_x509_certificate(issued.ca_cert.read_bytes())
    leaf = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert issued.fingerprint == certs.fingerprint(leaf) and len(issued.fingerprint) == 95
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=398)


def test_same_addresses_keep_the_leaf(tmp_path: Path) -> None:
    first = certs.ensure(tmp_path, ["partybox.local"], A1)
    again = certs.ensure(tmp_path, ["partybox.local"], list(reversed(A1)))
    assert not again.renewed and again.fingerprint == first.fingerprint


def test_new_address_gives_a_new_leaf_and_keeps_the_ca(tmp_path: Path) -> None:
    first = certs.ensure(tmp_path, ["partybox.local"], A1)
    ca_pem = (tmp_path / "ca.crt").read_bytes()
    moved = certs.ensure(tmp_path, ["partybox.local"], [*A1[:1], IP("192.168.1.77")])
    assert moved.renewed and moved.fingerprint != first.fingerprint
    assert moved.ca_fingerprint == first.ca_fingerprint
    assert (tmp_path / "ca.crt").read_bytes() == ca_pem
    assert "192.168.1.77" in _sans(moved.cert) and "192.168.1.20" not in _sans(moved.cert)


def test_leaf_renewed_before_it_expires(tmp_path: Path) -> None:
    first = certs.ensure(tmp_path, ["partybox.local"], A1)
    later = dt.datetime.now(dt.UTC) + certs.LEAF_LIFETIME - certs.RENEW_BEFORE + dt.timedelta(days=1)
    renewed = certs.ensure(tmp_path, ["partybox.local"], A1, now=later)
    assert renewed.renewed and renewed.not_after > first.not_after
    assert renewed.ca_fingerprint == first.ca_fingerprint


def test_damaged_or_foreign_leaf_is_replaced(tmp_path: Path) -> None:
    certs.ensure(tmp_path, ["a.local"], A1)
    (tmp_path / "server.crt").write_text("not a certificate")
    assert certs.ensure(tmp_path, ["a.local"], A1).renewed
    other = tmp_path / "other"
    certs.ensure(other, ["a.local"], A1)
    for name in ("server.crt", "server.key"):  # a leaf from another CA
        (tmp_path / name).write_bytes((other / name).read_bytes())
    assert certs.ensure(tmp_path, ["a.local"], A1).renewed


def test_damaged_ca_makes_a_new_ca_and_leaf(tmp_path: Path) -> None:
    first = certs.ensure(tmp_path, ["a.local"], A1)
    (tmp_path / "ca.key").write_text("garbage")
    second = certs.ensure(tmp_path, ["a.local"], A1)
    assert second.renewed and second.ca_fingerprint != first.ca_fingerprint


def test_banner_lists_urls_fingerprint_trust_page_and_a_qr_of_the_main_url() -> None:
    urls = ["https://192.168.1.20:8080/", "https://partybox.local:8080/"]
    text = banner.banner(urls, "AA:BB", "http://192.168.1.20:8081/", "CC:DD")
    for part in (*urls, "AA:BB", "http://192.168.1.20:8081/", "CC:DD"):
        assert part in text
    qr = banner.qr_text(urls[0])
    assert qr in text
    rows = [r for r in qr.splitlines() if r.strip()]
    size = segno.make(urls[0], error="m", micro=False).symbol_size(border=2)[0]
    assert len(rows) == (size + 1) // 2 and all(len(r) == size for r in rows)


def test_trust_page_names_every_platform_and_escapes() -> None:
    page = trust_page.render(["https://10.0.0.1:8080/<x>"], "AB:CD").decode()
    for platform in ("Windows", "macOS", "Linux", "Android", "iPhone", "Firefox"):
        assert platform in page
    assert "AB:CD" in page and "<x>" not in page and "&lt;x&gt;" in page
    assert 'href="/ca.crt"' in page


def test_running_check_renews_when_addresses_change_and_reloads_the_context(tmp_path: Path) -> None:
    from together_server.lan import tls
    from together_server.lan.runtime import Lan

    issued = certs.ensure(tmp_path / "tls", ["x.local"], [IP("10.99.99.99")])
    lan = Lan(lan=True, host="::", port=0, sock=None, ctx=tls.make_context(issued.cert, issued.key),  # type: ignore[arg-type]
              fingerprint=issued.fingerprint, not_after=issued.not_after, data_dir=tmp_path,
              own_cert=False, local_name="x.local", addresses=[IP("10.99.99.99")])
    assert lan.check()  # this machine has other addresses than 10.99.99.99
    assert lan.fingerprint != issued.fingerprint and lan.ca_fingerprint == issued.ca_fingerprint
    assert "127.0.0.1" in _sans(tmp_path / "tls" / "server.crt")
    assert not lan.check()  # nothing changed since


def test_systemd_unit_has_the_descriptor_limit_and_hardening() -> None:
    unit = (Path(__file__).resolve().parents[1] / "config" / "together-server.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["LimitNOFILE"] == "65536"
    assert settings["NoNewPrivileges"] == "true" and settings["ProtectSystem"] == "strict"
    assert settings["ReadWritePaths"] == "/var/lib/together-server" == settings["WorkingDirectory"]
    assert settings["PrivateTmp"] == "true"
    assert "#AmbientCapabilities=CAP_NET_BIND_SERVICE" in unit
