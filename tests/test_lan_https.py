"""Issue 14 on loopback: HTTPS with the operator's own certificate (``server.tls_cert`` /
``tls_key``) trusted by the client, plain HTTP on the same port redirected, the printed
fingerprint equal to the served one, ``GET /instance/lan``, and start refusals."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from pathlib import Path

import httpx
import pytest
import trio
from conftest import make_config

from together_server.config import ConfigError
from together_server.daemon import DaemonError, run_daemon
from together_server.lan import certs


def _issue(tmp_path: Path) -> certs.Issued:
    return certs.ensure(tmp_path / "own", ["localhost"], [ipaddress.ip_address("127.0.0.1")])


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


async def test_https_with_own_certificate_redirect_and_fingerprint(
    nursery: trio.Nursery, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    issued = _issue(tmp_path)
    cfg = make_config(tmp_path / "data", server={"tls_cert": str(issued.cert), "tls_key": str(issued.key)})
    running = await nursery.start(run_daemon, cfg)
    assert running.url.startswith("https://127.0.0.1:")
    port = running.port

    def client_checks() -> dict[str, object]:
        ctx = ssl.create_default_context(cafile=str(issued.ca_cert))
        out: dict[str, object] = {}
        with httpx.Client(verify=ctx, timeout=10) as c:
            out["health"] = c.get(f"https://localhost:{port}/health").json()
            out["lan"] = c.get(f"https://127.0.0.1:{port}/instance/lan").json()
            out["ice"] = c.post(f"https://127.0.0.1:{port}/auth/register", json={
                "username": "lanuser", "password": "correct horse battery"}).status_code
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls_sock:
            out["served"] = certs.fingerprint_der(tls_sock.getpeercert(binary_form=True))
        with httpx.Client(timeout=10) as c:  # plain http to the https port
            r = c.get(f"http://127.0.0.1:{port}/channels/1?x=%20y")
            out["redirect"] = (r.status_code, r.headers["location"])
        out["head"] = _raw(port, b"HEAD /docs HTTP/1.1\r\nHost: evil\r\nx\r\n\r\n")
        out["garbage"] = _raw(port, b"hello\r\n\r\n")
        return out

    got = await trio.to_thread.run_sync(client_checks)
    assert got["health"] == {"status": "ok"}
    assert got["served"] == issued.fingerprint
    assert got["redirect"] == (308, f"https://127.0.0.1:{port}/channels/1?x=%20y")
    assert got["head"].startswith(b"HTTP/1.1 308") and b"Location: https://evil/docs\r\n" in got["head"]
    assert got["head"].endswith(b"\r\n\r\n")  # HEAD: no body
    assert got["garbage"].startswith(b"HTTP/1.1 400")
    lan = got["lan"]
    assert lan["lan"] is False and lan["urls"] == [] and lan["tls_sha256"] == issued.fingerprint
    assert f"HTTPS certificate SHA-256: {issued.fingerprint}" in capsys.readouterr().out
    running.shutdown()


async def test_without_lan_or_tls_nothing_changes(nursery: trio.Nursery, tmp_path: Path) -> None:
    running = await nursery.start(run_daemon, make_config(tmp_path / "data"))
    assert running.url.startswith("http://127.0.0.1:")

    def check() -> dict[str, object]:
        with httpx.Client(timeout=10) as c:
            return c.get(f"{running.url}/instance/lan").json()

    assert await trio.to_thread.run_sync(check) == {
        "lan": False, "urls": [], "local_name": None, "port": None, "tls_sha256": None,
        "ca_sha256": None, "trust_url": None}
    assert not (tmp_path / "data" / "tls").exists()
    running.shutdown()


def test_tls_cert_needs_tls_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="server.tls_cert"):
        make_config(tmp_path, server={"tls_cert": "a.pem"})


async def test_unreadable_certificate_refuses_to_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    cfg = make_config(tmp_path / "data", server={"tls_cert": str(bad), "tls_key": str(bad)})
    with pytest.raises(BaseException) as info:
        await run_daemon(cfg, install_signal_handlers=False)
    from together_server.daemon import find_daemon_error

    err = find_daemon_error(info.value)
    assert isinstance(err, DaemonError) and "tls_cert" in str(err)


async def test_qr_code_of_a_url_as_svg(nursery: trio.Nursery, tmp_path: Path) -> None:
    running = await nursery.start(run_daemon, make_config(tmp_path / "data"))

    def fetch() -> list[httpx.Response]:
        with httpx.Client(base_url=running.url, timeout=10) as c:
            return [c.get("/instance/lan/qr.svg", params={"text": "https://10.0.0.5:8080/#/invite/abc"}),
                    c.get("/instance/lan/qr.svg", params={"text": "javascript:alert(1)"}),
                    c.get("/instance/lan/qr.svg"),
                    c.get("/instance/lan/qr.svg", params={"text": "https://x/" + "a" * 1100})]

    ok, js, missing, long = await trio.to_thread.run_sync(fetch)
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/svg+xml"
    assert ok.text.startswith("<svg") and "<script" not in ok.text
    for bad in (js, missing, long):
        assert bad.status_code == 400 and bad.json()["code"] == "validation_failed"
    running.shutdown()
