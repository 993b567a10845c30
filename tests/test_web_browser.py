"""The web client end to end in a real browser (issue 11 "Tests"): Debian's Chromium driven by
Playwright, against one daemon and one browser for the whole module.

Two people, alice and bob, each in their own browser context. The tests run in file order and
build on each other (alice's server, bob's membership), as a user's session would.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ThreadDaemon, make_config, unique
from playwright.sync_api import Browser, Page, expect, sync_playwright
from web_browser import PASSWORD, Person, launch, message, screenshot_dir

expect.set_options(timeout=10_000)


class World:
    base: str
    browser: Browser
    shots: Path
    alice: Person
    bob: Person
    server_id: str
    general_id: str
    invite: str


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    tmp = Path(tempfile.mkdtemp(prefix="together-web-"))
    daemon = ThreadDaemon(make_config(tmp / "data"))
    running = daemon.start()
    w = World()
    w.base = running.url
    w.shots = screenshot_dir(tmp / "shots")
    with sync_playwright() as pw:
        w.browser = launch(pw)
        try:
            yield w
        finally:
            for who in ("alice", "bob"):
                if hasattr(w, who):
                    getattr(w, who).close()
            w.browser.close()
            daemon.stop()


def shot(w: World, page: Page, name: str) -> None:
    page.wait_for_timeout(150)
    page.screenshot(path=str(w.shots / f"{name}.png"))


def ui_register(w: World, name: str) -> Page:
    ctx = w.browser.new_context(viewport={"width": 1280, "height": 760})
    page = ctx.new_page()
    page.goto(w.base + "/")
    page.get_by_role("button", name="No account? Register").click()
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("navigation", name="Servers")).to_be_visible()
    # the boot placeholder is gone and the app fits the window (nothing pushed below it)
    assert page.locator("p.boot").count() == 0
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight")
    return page


def adopt(w: World, page: Page, name: str) -> Person:
    """A Person around a page that registered through the UI (its stored tokens)."""
    stored = page.evaluate("JSON.parse(localStorage.getItem('together.auth'))")
    p = Person(w.base, name, {"access_token": stored["access_token"], "refresh_token": stored["refresh_token"], "user": stored["user"]})
    p.context, p.page = page.context, page
    p.watch(page)
    return p


def send(page: Page, box: str, text: str) -> None:
    area = page.get_by_role("textbox", name=box)
    area.fill(text)
    area.press("Enter")


def test_register_create_invite_join_and_chat_live(world: World) -> None:
    w = world
    a = ui_register(w, unique("alice"))
    w.alice = adopt(w, a, a.evaluate("JSON.parse(localStorage.getItem('together.auth')).user.username"))
    shot(w, a, "home")
    a.get_by_role("button", name="Create a server").first.click()
    a.get_by_label("Server name").fill("LAN party")
    a.get_by_role("button", name="Create", exact=True).click()
    expect(a.get_by_role("heading", name="general")).to_be_visible()
    w.server_id = a.evaluate("location.hash.split('/')[2]")
    w.general_id = a.evaluate("location.hash.split('/')[3]")
    # a second channel through the UI
    a.get_by_role("button", name="Create a channel").click()
    a.get_by_label("Name").fill("games")
    a.get_by_role("button", name="Create", exact=True).click()
    expect(a.get_by_role("heading", name="games")).to_be_visible()
    a.get_by_role("link", name="general", exact=True).click()
    # the invite link
    a.get_by_role("button", name="Invite people", exact=True).click()
    link = a.get_by_label("Share this link").input_value()
    assert re.fullmatch(re.escape(w.base) + r"/#/invite/[A-Za-z0-9]{8}", link), link
    w.invite = link
    a.keyboard.press("Escape")

    b = ui_register(w, unique("bob"))
    w.bob = adopt(w, b, b.evaluate("JSON.parse(localStorage.getItem('together.auth')).user.username"))
    b.goto(link)
    expect(b.get_by_role("heading", name=re.compile("You are invited to"))).to_be_visible()
    b.get_by_role("button", name="Accept invite").click()
    expect(b.get_by_role("heading", name="general")).to_be_visible()

    send(a, "Message #general", "hello from alice")
    expect(message(b, "hello from alice")).to_be_visible()
    send(b, "Message #general", "hi alice, bob here 👋 你好")
    expect(message(a, "hi alice, bob here 👋 你好")).to_be_visible()
    # bob is listed online in alice's member list (live presence)
    expect(a.get_by_role("complementary", name="Members").locator(f"[data-member='{w.bob.name}'] .presence.online")).to_be_visible()
    shot(w, a, "chat")


def test_edit_delete_reply_reaction_pin(world: World) -> None:
    w = world
    a, b = w.alice.page, w.bob.page
    assert a and b
    send(a, "Message #general", "a message to work on")
    mine = message(a, "a message to work on")
    expect(mine).to_be_visible()
    # bob replies
    theirs = message(b, "a message to work on")
    theirs.hover()
    theirs.get_by_role("button", name="Reply").click()
    expect(b.get_by_text("Replying to")).to_be_visible()
    send(b, "Message #general", "this is my reply")
    reply = message(a, "this is my reply")
    expect(reply.locator(".reply-preview")).to_contain_text("a message to work on")
    # bob reacts
    theirs.hover()
    theirs.get_by_role("button", name="Add reaction").click()
    b.get_by_role("menuitem", name="React with 👍").click()
    expect(mine.get_by_role("button", name=re.compile("👍 1"))).to_be_visible()
    # who reacted: alice sees bob's name
    mine.get_by_role("button", name=re.compile("👍 1")).hover()
    expect(mine.get_by_role("button", name=re.compile(f"👍 1: {w.bob.name}"))).to_be_visible()
    # alice edits
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    ed = a.get_by_role("textbox", name="Edit message")
    ed.fill("a message, edited")
    ed.press("Enter")
    edited = message(b, "a message, edited")
    expect(edited.locator(".edited")).to_be_visible()
    # alice (owner) pins it; bob sees the pin and the pinned list
    mine = message(a, "a message, edited")
    mine.hover()
    mine.get_by_role("button", name="Pin message").click()
    expect(edited.get_by_text("pinned")).to_be_visible()
    b.get_by_role("button", name="Pinned messages").click()
    expect(b.get_by_role("complementary", name="Pinned messages")).to_contain_text("a message, edited")
    b.get_by_role("button", name="Member list").click()
    # alice deletes it; it leaves bob's screen
    mine.hover()
    mine.get_by_role("button", name="Delete message").click()
    a.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(message(b, "a message, edited")).to_have_count(0)


def test_typing_shows_on_the_other_side(world: World) -> None:
    a, b = world.alice.page, world.bob.page
    assert a and b
    a.wait_for_timeout(5500)  # the server relays one notice per user and channel every 5 s (§6.3)
    a.get_by_role("textbox", name="Message #general").press_sequentially("typing som", delay=20)
    expect(b.locator(".typing")).to_have_text(f"{world.alice.name} is typing…")
    a.get_by_role("textbox", name="Message #general").fill("")


def test_reload_restores_the_channel(world: World) -> None:
    b = world.bob.page
    assert b
    b.reload()
    expect(b.get_by_role("heading", name="general")).to_be_visible()
    expect(message(b, "hello from alice")).to_be_visible()
    assert world.general_id in b.url


def test_offline_10s_then_all_20_messages_once_in_order(world: World) -> None:
    w = world
    b = w.bob.page
    assert b
    w.bob.context.set_offline(True)
    expect(b.locator(".conn")).to_be_visible()  # the visible reconnecting state
    texts = [f"offline burst {i:02d}" for i in range(20)]
    started = time.monotonic()
    for t in texts:
        w.alice.api("POST", f"/channels/{w.general_id}/messages", json={"content": t})
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))
    w.bob.context.set_offline(False)
    expect(message(b, texts[-1])).to_be_visible(timeout=20_000)
    expect(b.locator(".conn")).to_have_count(0)
    shown = b.locator("article.msg .content").all_inner_texts()
    burst = [t for t in shown if t.startswith("offline burst")]
    assert burst == texts, burst


def test_search_finds_a_word_and_jumps_to_it(world: World) -> None:
    w = world
    w.alice.api("POST", f"/channels/{w.general_id}/messages", json={"content": "the zanzibar plan is on"})
    for i in range(130):  # push it out of the loaded window
        w.alice.api("POST", f"/channels/{w.general_id}/messages", json={"content": f"filler {i}"})
    b = w.bob.page
    assert b
    expect(message(b, "filler 129")).to_be_visible()
    box = b.get_by_role("searchbox", name="Search this server")
    box.click()
    expect(b.get_by_role("note", name="Search syntax")).to_contain_text("from:")
    box.fill("zanzibar")
    box.press("Enter")
    results = b.get_by_role("complementary", name="Search results")
    expect(results.locator("mark")).to_have_text("zanzibar")
    shot(w, b, "search")
    results.get_by_role("button", name=re.compile("Jump to message")).first.click()
    target = message(b, "the zanzibar plan is on")
    expect(target).to_be_in_viewport()


def test_direct_message_both_ways(world: World) -> None:
    w = world
    b, a = w.bob.page, w.alice.page
    assert a and b
    b.get_by_role("link", name="general", exact=True).click()
    if b.get_by_role("complementary", name="Members").count() == 0:
        b.get_by_role("button", name="Member list").click()
    b.get_by_role("button", name=f"Message {w.alice.name}").click()
    expect(b.get_by_role("heading", name=w.alice.name)).to_be_visible()
    send(b, f"Message @{w.alice.name}", "psst, a private word")
    expect(a.get_by_role("button", name=re.compile(r"Direct messages, 1 unread"))).to_be_visible()
    a.get_by_role("button", name=re.compile("Direct messages")).first.click()
    a.get_by_role("link", name=w.bob.name).click()
    expect(message(a, "psst, a private word")).to_be_visible()
    send(a, f"Message @{w.bob.name}", "got it")
    expect(message(b, "got it")).to_be_visible()
    a.goto(f"{w.base}/#/channels/{w.server_id}/{w.general_id}")
    b.goto(f"{w.base}/#/channels/{w.server_id}/{w.general_id}")


def test_role_hides_a_channel_live(world: World) -> None:
    w = world
    a, b = w.alice.page, w.bob.page
    assert a and b
    expect(b.get_by_role("link", name="games", exact=True)).to_be_visible()
    a.get_by_role("button", name="Server settings").click()
    dialog = a.get_by_role("dialog")
    dialog.get_by_role("tab", name="Roles").click()
    dialog.get_by_role("button", name="Create role").click()
    dialog.get_by_label("Role name").fill("Players")
    dialog.get_by_role("button", name="Create role").click()
    expect(dialog.get_by_role("list", name="Roles")).to_contain_text("Players")
    dialog.get_by_role("tab", name="Channel permissions").click()
    dialog.get_by_label("Channel", exact=True).select_option(label="#games")
    dialog.get_by_label("Add an override for").select_option(label="Everyone")
    dialog.get_by_role("button", name="Add", exact=True).click()
    dialog.get_by_role("radiogroup", name="View channels for Everyone").get_by_text("Deny").click()
    expect(b.get_by_role("link", name="games", exact=True)).to_have_count(0)
    shot(w, a, "server-settings")
    a.keyboard.press("Escape")
    expect(a.get_by_role("link", name="games", exact=True)).to_be_visible()  # the owner still sees it


XSS = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=2>",
    "[click](javascript:window.__xss=3) javascript:window.__xss=4",
    "</style><svg onload=window.__xss=5>",
    "**<b onmouseover=window.__xss=6>bold</b>**",
]


def test_xss_payloads_render_as_text(world: World) -> None:
    w = world
    b = w.bob.page
    assert b
    cid = w.alice.api("POST", f"/servers/{w.server_id}/channels", json={"name": "<img src=x onerror=window.__xss=7>", "type": "text"})["id"]
    w.alice.api("PATCH", f"/channels/{cid}", json={"topic": "<script>window.__xss=8</script>"})
    for p in XSS:
        w.alice.api("POST", f"/channels/{cid}/messages", json={"content": p})
    b.goto(f"{w.base}/#/channels/{w.server_id}/{cid}")
    expect(b.get_by_role("heading", name="<img src=x onerror=window.__xss=7>")).to_be_visible()
    for p in XSS:
        expect(b.locator("article.msg .content", has_text=p.replace("**", "")).first).to_be_visible()
    box = b.get_by_role("searchbox", name="Search this server")
    box.fill("onerror")
    box.press("Enter")
    expect(b.get_by_role("complementary", name="Search results").locator("mark").first).to_be_visible()
    assert b.evaluate("window.__xss") is None
    log = b.get_by_role("log", name="Messages")
    assert log.locator("script, img, svg, b, iframe").count() == 0
    hrefs = log.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert not [e for e in w.bob.errors if e.startswith("dialog")]
    b.goto(f"{w.base}/#/channels/{w.server_id}/{w.general_id}")


def test_unread_dot_mention_count_title_and_divider(world: World) -> None:
    w = world
    a, b = w.alice.page, w.bob.page
    assert a and b
    games = [c for c in w.alice.api("GET", f"/servers/{w.server_id}/channels") if c["name"] == "games"][0]["id"]
    # bob looks at #games (the override of the previous test: let everyone see it again)
    ov = [o for o in w.alice.api("GET", f"/channels/{games}/overrides") if o["role_id"] == w.server_id]
    for o in ov:
        w.alice.api("DELETE", f"/channels/{games}/overrides/{o['id']}")
    b.goto(f"{w.base}/#/channels/{w.server_id}/{games}")
    expect(b.get_by_role("heading", name="games")).to_be_visible()
    for i in range(3):
        w.alice.api("POST", f"/channels/{w.general_id}/messages", json={"content": f"while you were in games {i}"})
    w.alice.api("POST", f"/channels/{w.general_id}/messages", json={"content": f"@{w.bob.name} look here"})
    general = b.locator("li.chan", has=b.locator("[data-channel='general']"))
    expect(general.locator(".badge")).to_have_text("1")  # one unread mention
    expect(b.get_by_role("button", name=re.compile(r"LAN party, 1 mentions"))).to_be_visible()
    expect(b).to_have_title(re.compile(r"^\(4\) Together$"))
    b.get_by_role("link", name=re.compile(r"^general.*1 mentions")).click()
    divider = b.get_by_role("separator", name="New messages")
    expect(divider).to_be_visible()
    # the divider sits right before the first unread message
    after = b.locator(".divider + article.msg .content")
    expect(after).to_have_text("while you were in games 0")
    expect(b).to_have_title("Together")  # read: acked
    expect(message(b, "look here")).to_have_class(re.compile("mentioned"))
    # one's own @mention is an inline highlight, not a block that breaks the line
    mine = message(b, "look here").locator(".mention.me")
    assert mine.count() == 1 and mine.evaluate("e => getComputedStyle(e).display") == "inline"


def test_shift_enter_is_a_new_line_and_enter_sends(world: World) -> None:
    a, b = world.alice.page, world.bob.page
    assert a and b
    area = a.get_by_role("textbox", name="Message #general")
    area.click()
    area.press_sequentially("first line")
    area.press("Shift+Enter")
    area.press_sequentially("second line")
    expect(area).to_have_value("first line\nsecond line")
    area.press("Enter")
    expect(area).to_have_value("")
    expect(message(b, "second line")).to_contain_text("first line")
    assert message(b, "second line").locator(".content br").count() == 1


def test_scroll_up_loads_older_pages(world: World) -> None:
    b = world.bob.page
    assert b
    box = b.get_by_role("log", name="Messages")
    box.hover()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:  # the mouse wheel, as a person scrolls
        if b.locator(".messages .start").count():
            break
        b.mouse.wheel(0, -2500)
        b.wait_for_timeout(150)
        box.evaluate("el => el.dispatchEvent(new Event('scroll'))")
    expect(b.locator(".messages .start")).to_be_visible()
    expect(message(b, "hello from alice")).to_be_attached()
    assert b.locator("article.msg").count() <= 250  # a bounded window


def test_every_control_has_an_accessible_name(world: World) -> None:
    b = world.bob.page
    assert b
    unnamed = b.evaluate("""() => [...document.querySelectorAll('button, a[href], input, textarea, select, [role=button]')]
      .filter((el) => el.offsetParent !== null || el.getClientRects().length)
      .filter((el) => !(el.getAttribute('aria-label') || el.textContent.trim() || (el.labels && el.labels.length) || el.title))
      .map((el) => el.outerHTML.slice(0, 80))""")
    assert not unnamed, unnamed
    # keyboard alone: Tab reaches the composer, typing and Enter send
    b.get_by_role("textbox", name="Message #general").focus()
    b.keyboard.type("typed with the keyboard")
    b.keyboard.press("Enter")
    expect(message(world.alice.page, "typed with the keyboard")).to_be_visible()  # type: ignore[arg-type]


def test_dark_theme_follows_the_system(world: World) -> None:
    w = world
    page = w.bob.page
    assert page
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="light")
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark != light and light == "rgb(255, 255, 255)", (dark, light)
    page.emulate_media(color_scheme="dark")
    shot(w, page, "dark")
    page.emulate_media(color_scheme="light")


def test_mention_autocomplete(world: World) -> None:
    w = world
    b = w.bob.page
    assert b
    area = b.get_by_role("textbox", name="Message #general")
    area.click()
    area.press_sequentially("hey @" + w.alice.name[:4])
    box = b.get_by_role("listbox", name="Mention suggestions")
    expect(box.get_by_role("option", name="@" + w.alice.name)).to_be_visible()
    area.press("Enter")  # picks the suggestion
    expect(area).to_have_value(f"hey @{w.alice.name} ")
    area.press_sequentially("dinner?")
    area.press("Enter")
    expect(message(w.alice.page, "dinner?")).to_have_class(re.compile("mentioned"))  # type: ignore[arg-type]


def test_status_change_shows_in_the_member_list(world: World) -> None:
    w = world
    a, b = w.alice.page, w.bob.page
    assert a and b
    b.get_by_role("button", name="Your settings").first.click()
    dialog = b.get_by_role("dialog", name="Your settings")
    dialog.get_by_label("Status", exact=True).select_option(label="Do not disturb")
    dialog.get_by_label("Custom status").fill("in a match")
    dialog.get_by_role("button", name="Save profile").click()
    expect(dialog.get_by_role("status")).to_have_text("Saved.")
    b.keyboard.press("Escape")
    members = a.get_by_role("complementary", name="Members")
    expect(members.locator(f"[data-member='{w.bob.name}'] .presence")).to_have_attribute("aria-label", "do not disturb")
    b.get_by_role("button", name="Your settings").first.click()
    b.get_by_role("dialog").get_by_label("Status", exact=True).select_option(label="Online")
    b.get_by_role("dialog").get_by_role("button", name="Save profile").click()
    b.keyboard.press("Escape")


def test_bot_token_is_shown_once(world: World) -> None:
    a = world.alice.page
    assert a
    a.get_by_role("button", name="Server settings").click()
    dialog = a.get_by_role("dialog")
    dialog.get_by_role("tab", name="Your bots").click()
    dialog.get_by_label("Bot name").fill("Dice roller")
    dialog.get_by_role("button", name="Create bot").click()
    token = dialog.locator("code.token")
    expect(token).to_have_text(re.compile(r"^\S{20,}$"))
    expect(dialog.get_by_role("button", name="Copy token")).to_be_visible()
    value = token.inner_text()
    r = httpx.post(world.base + "/bots/connect", headers={"Authorization": f"Bot {value}"}, timeout=30)
    assert r.status_code == 200, r.text  # the token shown works
    dialog.get_by_role("button", name="I saved it").click()
    expect(dialog.locator("code.token")).to_have_count(0)
    expect(dialog.get_by_role("list", name="Bots")).to_contain_text("Dice roller")
    a.keyboard.press("Escape")


def test_phone_width_layout(world: World) -> None:
    w = world
    page = w.bob.open(w.browser, f"#/channels/{w.server_id}/{w.general_id}", viewport={"width": 390, "height": 800},
                      is_mobile=True, has_touch=True)
    expect(page.get_by_role("heading", name="general")).to_be_visible()
    rail = page.get_by_role("navigation", name="Servers")
    assert not rail.is_visible() or rail.bounding_box()["x"] < 0  # type: ignore[index]
    page.get_by_role("button", name="Open navigation").click()
    expect(page.get_by_role("link", name="general", exact=True)).to_be_in_viewport()
    shot(w, page, "phone-drawer")
    page.get_by_role("link", name="general", exact=True).click()
    send(page, "Message #general", "sent from a phone")
    expect(message(w.alice.page, "sent from a phone")).to_be_visible()  # type: ignore[arg-type]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # no sideways scrolling
    shot(w, page, "phone")


def test_no_script_errors(world: World) -> None:
    for who in (world.alice, world.bob):
        bad = [e for e in who.errors if not e.startswith("console error: Failed to load resource")]
        assert not bad, bad
