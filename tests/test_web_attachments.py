"""Attachments in the web client, in a real browser (issue 11 on issue 10's routes): pick
files, paste an image, drop a file; upload progress; an image thumbnail that enlarges on
click; other files as download chips; a hostile filename stays text.
"""

from __future__ import annotations

import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ThreadDaemon, make_config, unique
from playwright.sync_api import Browser, Page, expect, sync_playwright
from web_browser import Person, launch, message, register

expect.set_options(timeout=15_000)


def png(width: int = 64, height: int = 40) -> bytes:
    """A real RGB PNG (a gradient), made without any image library."""
    rows = b"".join(b"\x00" + b"".join(bytes((x * 4 % 256, y * 6 % 256, 128)) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class World:
    base: str
    browser: Browser
    alice: Person
    bob: Person
    sid: str
    cid: str
    tmp: Path


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    tmp = Path(tempfile.mkdtemp(prefix="together-web-files-"))
    daemon = ThreadDaemon(make_config(tmp / "data"))
    w = World()
    w.base = daemon.start().url
    w.tmp = tmp
    w.alice, w.bob = register(w.base, unique("alice")), register(w.base, unique("bob"))
    w.sid = w.alice.api("POST", "/servers", json={"name": "Files"})["id"]
    w.cid = w.alice.api("POST", f"/servers/{w.sid}/channels", json={"name": "general", "type": "text"})["id"]
    code = w.alice.api("POST", f"/servers/{w.sid}/invites", json={})["code"]
    w.bob.api("POST", f"/invites/{code}/accept")
    with sync_playwright() as pw:
        w.browser = launch(pw)
        try:
            for p in (w.alice, w.bob):
                p.open(w.browser, f"#/channels/{w.sid}/{w.cid}")
            yield w
        finally:
            w.alice.close()
            w.bob.close()
            w.browser.close()
            daemon.stop()


def composer(page: Page) -> object:
    return page.get_by_role("textbox", name="Message #general")


def test_pick_files_then_thumbnail_enlarges_and_chip_downloads(world: World) -> None:
    w = world
    b, a = w.bob.page, w.alice.page
    assert a and b
    (w.tmp / "map.png").write_bytes(png())
    (w.tmp / "rules <b>.txt").write_text("no camping\n")
    b.locator("input[type=file]").set_input_files([str(w.tmp / "map.png"), str(w.tmp / "rules <b>.txt")])
    expect(b.get_by_role("list", name="Files to send")).to_contain_text("map.png")
    area = b.get_by_role("textbox", name="Message #general")
    area.fill("tonight's map")
    area.press("Enter")
    got = message(a, "tonight's map")
    thumb = got.get_by_role("button", name="Enlarge image map.png")
    expect(thumb.locator("img")).to_have_js_property("complete", True)
    assert thumb.locator("img").evaluate("img => img.naturalWidth") > 0  # the thumbnail loads (signed URL, no header)
    chip = got.get_by_role("link", name=re.compile("rules <b>.txt"))
    expect(chip).to_have_attribute("download", "rules <b>.txt")
    assert got.locator("b").count() == 0  # the filename is text
    thumb.click()
    dialog = a.get_by_role("dialog", name="map.png")
    expect(dialog.locator("img.enlarged")).to_be_visible()
    a.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def test_paste_an_image_and_drop_a_file(world: World) -> None:
    w = world
    b, a = w.bob.page, w.alice.page
    assert a and b
    data = list(png(20, 20))
    b.get_by_role("textbox", name="Message #general").evaluate("""(ta, bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'pasted.png', {type: 'image/png'}));
      ta.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
    }""", data)
    expect(b.get_by_role("list", name="Files to send")).to_contain_text("pasted.png")
    b.locator(".composer").evaluate("""(el) => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped text'], 'notes.txt', {type: 'text/plain'}));
      el.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""")
    expect(b.get_by_role("list", name="Files to send")).to_contain_text("notes.txt")
    b.get_by_role("button", name="Send message").click()  # files only, no text
    last = a.locator("article.msg").last
    expect(last.get_by_role("button", name="Enlarge image pasted.png")).to_be_visible()
    expect(last.get_by_role("link", name=re.compile("notes.txt"))).to_be_visible()
