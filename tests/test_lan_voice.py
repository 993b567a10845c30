"""Issue 14's browser voice test: Chromium instances with fake media join one voice channel
through HTTPS on a non-loopback address, with ``GET /ice-servers`` empty, across two
test-made network namespaces (``serve --lan`` and half the browsers in A, the other half
in B; nothing leaves the machine). Two, then six: every pair's peer connection reaches
``connected``, audio flows both ways, mute stops it, leaving tears the connections down.
Join → audio times are printed (run with ``-s``; ``bench/bench_voice_lan.py`` repeats it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lan_voice import PORT, Lan, report, scenario
from netns import LanHost, Pair, available
from voice_browser import Call, Seat, Worker, chromium_args, setup_people

reason = available()
if reason:  # CI runs as root with iproute2 (.ci/run installs it): this never skips there
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lan]:
    base = tmp_path_factory.mktemp("lanvoice")
    config = base / "together.toml"
    config.write_text('[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n[ratelimit]\nenabled = false\n')
    with Pair(f"v{os.getpid() % 100000}", subnet=78) as pair:
        host = LanHost(pair, base / "data", config, PORT)
        host.start()
        lan = None
        try:
            lan = Lan(pair, host)
            yield lan
        finally:
            if lan is not None:
                lan.close()
            host.stop()


def test_ice_servers_empty_on_the_lan(lan: Lan) -> None:
    assert lan.ice()["iceServers"] == []


def test_two_browsers_across_namespaces(lan: Lan) -> None:
    got = scenario(lan, 2)
    report(2, got)
    assert all(c["local"] == "host" and c["remote"] in ("host", "prflx") for c in got["candidates"]), got


def test_six_browser_full_mesh(lan: Lan) -> None:
    got = scenario(lan, 6)
    report(6, got)
    assert len(got["join_ms"]) == 15


def _open_dialog(w: Worker, seat: Seat) -> dict[str, Any]:
    page = seat.page  # type: ignore[attr-defined]
    page.get_by_role("button", name="Invite people on this network").first.click()
    dialog = page.get_by_role("dialog", name="Invite people on this network")
    dialog.locator("img.lan-qr").wait_for()
    page.wait_for_function("() => { const i = document.querySelector('img.lan-qr');"
                           " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000, polling=100)
    return {"links": dialog.locator("code.lan-url").all_inner_texts(),
            "trust": dialog.locator(".lan-trust a").get_attribute("href"),
            "fingerprint": dialog.locator(".lan-trust .fp").inner_text()}


def test_invite_dialog_lists_the_lan_urls_with_a_qr_code(lan: Lan) -> None:
    call = lan.call(1)
    try:
        call.open_all()
        got = call.run_in(call.seats[0], _open_dialog)
    finally:
        call.close()
    links = got["links"]
    assert links[0].startswith(f"https://{lan.pair.v4_a}:{PORT}/#/invite/")
    assert any(link.startswith(f"https://[{lan.pair.v6_a}]:{PORT}/#/invite/") for link in links)
    assert any(".local:" in link for link in links)
    assert got["trust"] == f"http://{lan.pair.v4_a}:{PORT + 1}/"
    assert len(got["fingerprint"]) == 95


def test_plain_http_on_a_lan_address_explains_the_microphone(lan: Lan, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Without --lan a guest's page is http://<address>: not a secure context. The voice view
    says why the microphone is blocked and how to fix it; joining still works, listening only."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("plain")
    proc = subprocess.Popen([*lan.pair.exec_args(lan.pair.a), sys.executable, "-m", "together_server", "serve",
                             "--host", lan.pair.v4_a, "--port", "8090", "--config", str(lan.host.config),
                             "--data-dir", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{lan.pair.v4_a}:8090"
    try:
        def wait_up() -> None:
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    time.sleep(0.1)
            raise AssertionError("plain server did not start")
        lan.pair.run_in(lan.pair.b, wait_up)
        room = lan.pair.run_in(lan.pair.b, setup_people, base, 1)
        seat = Seat(lan.workers[lan.pair.b], room["people"][0])
        call = Call(f"{base}/#/channels/{room['server_id']}/{room['channel_id']}", [seat],
                    lambda s: chromium_args([lan.pair.v4_a]))
        try:
            call.open_all()
            assert call.secure(seat) == {"secure": False, "proto": "http:"}
            notice = call.run_in(seat, lambda w, s: s.page.locator(".voice-notice").first.inner_text())
            assert "not a secure page" in notice and "together-server serve --lan" in notice
            call.click(seat, "Join voice")
            call.run_in(seat, lambda w, s: s.page.get_by_role("button", name="Leave voice").wait_for())
            assert call.stats(seat)["muted"] is True
            assert call.run_in(seat, lambda w, s: s.page.get_by_role("button", name="Unmute").is_disabled())
            call.click(seat, "Leave voice")
        finally:
            call.close()
    finally:
        proc.terminate()  # our own child, by PID
        proc.wait(20)
