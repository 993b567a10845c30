"""Our own certificate authority and the server certificate for LAN mode (issue 14).

``ensure(tls_dir, names, addresses)`` keeps four files in ``tls_dir`` (the data
directory's ``tls/``): ``ca.key`` + ``ca.crt`` (created once, kept: guests trust it) and
``server.key`` + ``server.crt`` (the leaf, signed by the CA, naming every address and DNS
name). Keys are written 0600. The leaf is made anew when it is missing or unreadable, was
not signed by the current CA, expires within :data:`RENEW_BEFORE`, or names other
addresses/names than asked (DHCP gave a new address). EC P-256 keys, SHA-256 signatures.
Blocking (file I/O, key generation): call from a thread.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .addresses import IPAddress

CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=397)  # Apple refuses TLS server certificates past 398 days
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)  # guests' clocks may run a little behind


@attrs.frozen
class Issued:
    """Where the files are and what they hold. Fingerprints: SHA-256 of the DER,
    ``AB:CD:...`` (95 characters). ``renewed``: this call wrote a new leaf."""
    ca_cert: Path
    cert: Path
    key: Path
    fingerprint: str
    ca_fingerprint: str
    not_after: dt.datetime
    renewed: bool


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER as colon-separated upper-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def fingerprint_der(der: bytes) -> str:
    """Same as :func:`fingerprint` for DER bytes (e.g. ``ssl.getpeercert(binary_form=True)``)."""
    return fingerprint(x509.load_der_x509_certificate(der))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(tls_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    try:
        key = serialization.load_pem_private_key((tls_dir / "ca.key").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((tls_dir / "ca.crt").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        return None
    return key, cert


def _create_ca(tls_dir: Path, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname().split(".", 1)[0][:40] or "together"
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"together-server LAN CA ({host})"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "together-server"),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(tls_dir / "ca.key", _key_pem(key))
    _write_public(tls_dir / "ca.crt", cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _wanted_names(names: Iterable[str], addresses: Iterable[IPAddress]) -> set[x509.GeneralName]:
    wanted: set[x509.GeneralName] = {x509.DNSName(n) for n in names if n}
    wanted |= {x509.IPAddress(ipaddress.ip_address(a)) for a in addresses}
    return wanted


def _leaf_ok(
    tls_dir: Path, ca: x509.Certificate, wanted: set[x509.GeneralName], now: dt.datetime
) -> x509.Certificate | None:
    try:
        cert = x509.load_pem_x509_certificate((tls_dir / "server.crt").read_bytes())
        key = serialization.load_pem_private_key((tls_dir / "server.key").read_bytes(), None)
        cert.verify_directly_issued_by(ca)
    except Exception:  # noqa: BLE001 - unreadable, foreign or not ours: make anew
        return None
    if cert.public_key() != key.public_key():
        return None
    if cert.not_valid_after_utc - now < RENEW_BEFORE or cert.not_valid_before_utc > now:
        return None
    try:
        san = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return None
    return cert if san == wanted else None


def _create_leaf(
    tls_dir: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate,
    wanted: set[x509.GeneralName], common_name: str, now: dt.datetime,
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    ordered = sorted(wanted, key=lambda g: (type(g).__name__, str(g.value)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + LEAF_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(ordered), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(tls_dir / "server.key", _key_pem(key))
    _write_public(tls_dir / "server.crt", cert.public_bytes(serialization.Encoding.PEM))
    return cert


def ensure(
    tls_dir: Path, names: Iterable[str], addresses: Iterable[IPAddress], now: dt.datetime | None = None,
) -> Issued:
    """Create the CA if missing, and a leaf for exactly ``names`` (DNS) + ``addresses`` (IP)
    unless the current one still fits (see the module docstring). Returns :class:`Issued`.
    Raises OSError when ``tls_dir`` cannot be written."""
    now = now or dt.datetime.now(dt.UTC)
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = list(dict.fromkeys(names))
    ca_pair = _load_ca(tls_dir)
    if ca_pair is None or ca_pair[1].not_valid_after_utc - now < RENEW_BEFORE:
        ca_pair = _create_ca(tls_dir, now)
    ca_key, ca = ca_pair
    wanted = _wanted_names(names, addresses)
    leaf = _leaf_ok(tls_dir, ca, wanted, now)
    renewed = leaf is None
    if leaf is None:
        leaf = _create_leaf(tls_dir, ca_key, ca, wanted, names[0] if names else "together-server", now)
    return Issued(
        ca_cert=tls_dir / "ca.crt", cert=tls_dir / "server.crt", key=tls_dir / "server.key",
        fingerprint=fingerprint(leaf), ca_fingerprint=fingerprint(ca),
        not_after=leaf.not_valid_after_utc, renewed=renewed,
    )


def load_fingerprint(cert_path: Path) -> tuple[str, dt.datetime]:
    """The first certificate of a PEM file (the operator's ``tls_cert``): fingerprint and expiry.
    Raises OSError / ValueError."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return fingerprint(cert), cert.not_valid_after_utc
