"""The LAN voice scenario (issue 14), shared by tests/test_lan_voice.py and
bench/bench_voice_lan.py: ``serve --lan`` in namespace A, Chromium instances alternating
between namespaces A and B, HTTPS trusted through the leaf's SPKI, /ice-servers empty."""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import time
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from netns import LanHost, Pair
from voice_browser import Call, Seat, Worker, chromium_args, percentile, setup_people

PORT = 8443


class Lan:
    def __init__(self, pair: Pair, host: LanHost) -> None:
        self.pair, self.host = pair, host
        self.base = f"https://{pair.v4_a}:{PORT}"
        cert = x509.load_pem_x509_certificate((host.data_dir / "tls" / "server.crt").read_bytes())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        self.spki = base64.b64encode(hashlib.sha256(spki).digest()).decode()
        self.ca = (host.data_dir / "tls" / "ca.crt").read_text()
        self.workers = {pair.a: Worker(pair.a), pair.b: Worker(pair.b)}

    def ctx(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca)

    def call(self, n: int) -> Call:
        room = self.pair.run_in(self.pair.b, setup_people, self.base, n, self.ctx())
        seats = [Seat(self.workers[self.pair.a if i % 2 == 0 else self.pair.b], body)
                 for i, body in enumerate(room["people"])]
        return Call(f"{self.base}/#/channels/{room['server_id']}/{room['channel_id']}", seats,
                    lambda s: chromium_args([self.pair.v4_a, self.pair.v4_b], self.spki))

    def ice(self) -> Any:
        def get() -> Any:
            with httpx.Client(base_url=self.base, verify=self.ctx(), timeout=10) as c:
                r = c.post("/auth/register", json={"username": f"ice{os.getpid()}", "password": "correct horse battery"})
                return c.get("/ice-servers", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
        return self.pair.run_in(self.pair.b, get)

    def close(self) -> None:
        for w in self.workers.values():
            w.close()


def scenario(lan: Lan, n: int) -> dict[str, Any]:
    call = lan.call(n)
    try:
        call.open_all()
        for s in call.seats:
            assert call.secure(s) == {"secure": True, "proto": "https:"}
        started = time.monotonic()
        call.join_all()
        call.wait_mesh()
        mesh_s = time.monotonic() - started
        grew = call.growth()
        assert len(grew) == n * (n - 1) and all(v > 0 for v in grew.values()), grew
        kinds = call.candidate_kinds(call.seats[0])
        first, second = call.seats[0], call.seats[1]
        call.click(first, "Mute")
        time.sleep(1.0)
        grew = call.growth(2.0)
        assert all(grew[(o.id, first.id)] == 0 for o in call.seats[1:]), grew
        assert all(v > 0 for (listener, speaker), v in grew.items() if speaker != first.id), grew
        call.click(second, "Leave voice")
        for s in call.seats:
            if s is not second:
                call.run_in(s, lambda w, seat: seat.page.wait_for_function(
                    "(id) => !window.togetherVoice.state.peers.has(id)", arg=second.id, timeout=60_000, polling=100))
        for s in call.seats:
            if s is not second:
                call.click(s, "Leave voice")
        for s in call.seats:
            assert call.stats(s)["peers"] == []
            assert not s.errors, s.errors
        return {"join_ms": call.join_ms, "mesh_s": mesh_s, "candidates": kinds}
    finally:
        call.close()


def report(n: int, got: dict[str, Any]) -> None:
    ms = got["join_ms"]
    print(f"\nvoice over HTTPS in network namespaces, {n} Chromium instances: {len(ms)} join->audio samples, "
          f"p50 {percentile(ms, 50):.0f} ms, p99 {percentile(ms, 99):.0f} ms, max {max(ms):.0f} ms; "
          f"full mesh connected {got['mesh_s']:.1f} s after the first join; "
          f"selected candidate pairs of person 0: {got['candidates']}")
