"""Voice in the web client (issue 11), two Chromium instances on loopback with fake media:
join → the peer connection reaches ``connected`` and inbound audio bytes grow (getStats),
the speaking indicator lights, mute stops the bytes, camera and screen share reach the other
side and go away, deafen silences, leaving tears the connections down; the LAN invite
dialog without LAN mode."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from voice_browser import Call, Seat, Worker, chromium_args, setup_people

from together_server.daemon import Running


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.close()


def test_two_browsers_talk_mute_and_leave(shared: Running, worker: Worker) -> None:
    base = shared.url
    room = setup_people(base, 2)
    seats = [Seat(worker, body) for body in room["people"]]
    call = Call(f"{base}/#/channels/{room['server_id']}/{room['channel_id']}", seats,
                lambda s: chromium_args(["127.0.0.1"]))
    try:
        call.open_all()
        a, b = seats
        assert call.secure(a)["secure"] is True
        call.join_all()
        call.wait_mesh()
        grew = call.growth()
        assert grew[(a.id, b.id)] > 0 and grew[(b.id, a.id)] > 0, grew
        # the fake microphone beeps: both see the other (and themselves) speaking at some point
        speaking = call.run_in(b, lambda w, s: s.page.wait_for_function(
            "(id) => window.togetherVoice.state.speaking.has(id)", arg=a.id, timeout=60_000) and True)
        assert speaking
        # a's mute: b stops receiving a's audio, a still receives b's
        call.click(a, "Mute")
        call.run_in(a, lambda w, s: s.page.get_by_role("button", name="Unmute").wait_for())
        time.sleep(1.0)  # packets in flight
        grew = call.growth(2.0)
        assert grew[(b.id, a.id)] == 0, grew
        assert grew[(a.id, b.id)] > 0, grew
        # the voice list shows a muted, over the gateway
        call.run_in(b, lambda w, s: s.page.locator(f'li.voice-person[data-user="{a.id}"]', has_text="🔇").wait_for())
        call.click(a, "Unmute")
        time.sleep(1.0)
        assert call.growth()[(b.id, a.id)] > 0
        # camera: b sees a's video, and it goes away when a stops it
        call.click(a, "Camera")
        call.run_in(b, lambda w, s: s.page.locator("figure.voice-video video").first.wait_for(timeout=60_000))
        call.run_in(b, lambda w, s: s.page.wait_for_function(
            "async () => (await window.togetherVoice.stats()).peers.some((p) => p.inbound_video_bytes > 0)",
            timeout=60_000, polling=100))
        call.run_in(a, lambda w, s: s.page.locator("figure.voice-video", has_text="(you)").wait_for())
        call.click(a, "Stop camera")
        call.run_in(b, lambda w, s: s.page.locator("figure.voice-video").wait_for(state="detached", timeout=60_000))
        # screen share: the same path with getDisplayMedia
        call.click(a, "Share screen")
        call.run_in(b, lambda w, s: s.page.locator("figure.voice-video video").first.wait_for(timeout=60_000))
        call.run_in(b, lambda w, s: s.page.locator(f'li.voice-person[data-user="{a.id}"]', has_text="🖥️").wait_for())
        call.click(a, "Stop sharing")
        call.run_in(b, lambda w, s: s.page.locator("figure.voice-video").wait_for(state="detached", timeout=60_000))
        # deafen: b hears nothing (every peer's audio element muted) and is muted too
        call.click(b, "Deafen")
        call.run_in(b, lambda w, s: s.page.get_by_role("button", name="Undeafen").wait_for())
        assert call.run_in(b, lambda w, s: s.page.evaluate(
            "() => [...document.querySelectorAll('.voice-sink audio')].every((el) => el.muted)"))
        time.sleep(1.0)
        assert call.growth()[(a.id, b.id)] == 0
        call.click(b, "Undeafen")
        # b leaves: both sides drop the connection
        call.click(b, "Leave voice")
        assert call.stats(b)["peers"] == [] and call.stats(b)["channel_id"] is None
        call.run_in(a, lambda w, s: s.page.wait_for_function(
            "() => window.togetherVoice.state.peers.size === 0", timeout=60_000, polling=100))
        call.click(a, "Leave voice")
        assert call.stats(a) == {"channel_id": None, "muted": False, "deafened": False, "peers": []}
        for s in seats:
            assert not s.errors, s.errors
    finally:
        call.close()


def test_invite_dialog_without_lan_shows_this_pages_link_and_qr(shared: Running, worker: Worker) -> None:
    room = setup_people(shared.url, 1)
    seat = Seat(worker, room["people"][0])
    call = Call(f"{shared.url}/#/channels/{room['server_id']}/{room['channel_id']}", [seat],
                lambda s: chromium_args(["127.0.0.1"]))
    try:
        call.open_all()

        def dialog(w: Worker, s: Seat) -> list[str]:
            s.page.get_by_role("button", name="Invite people on this network").first.click()
            s.page.wait_for_function("() => { const i = document.querySelector('img.lan-qr');"
                                     " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000, polling=100)
            return s.page.locator("code.lan-url").all_inner_texts()

        links = call.run_in(seat, dialog)
        assert len(links) == 1 and links[0].startswith(f"{shared.url}/#/invite/")
    finally:
        call.close()
