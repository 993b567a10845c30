"""Browser voice tests (issues 11 and 14): Debian's Chromium with fake media devices,
driven by Playwright, one Chromium instance per person.

A :class:`Worker` is a thread that owns one Playwright driver (optionally inside a test
network namespace, so its Chromiums are there too) and runs the calls given to it. A
:class:`Call` is the scenario: people open a voice channel's page, join one after
another (each join timed until the joiner receives audio bytes from everyone already in
the channel: ``join_to_audio_ms``), then the full mesh is checked (every pair
``connected``, inbound audio growing), one person mutes (their audio stops arriving),
one leaves (the others drop that connection) and the rest leave (no connection left).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = os.environ.get("TOGETHER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
BASE_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
PASSWORD = "correct horse battery"


def chromium_args(exclude: list[str], spki: str | None = None) -> list[str]:
    """Launch flags: nothing resolves but the addresses in ``exclude``; ``spki`` (base64
    SHA-256 of the server certificate's public key) is trusted as a CA-issued certificate."""
    rules = "MAP * ~NOTFOUND, " + ", ".join(f"EXCLUDE {a}" for a in exclude)
    args = [*BASE_ARGS, f"--host-resolver-rules={rules}"]
    if spki:
        args.append(f"--ignore-certificate-errors-spki-list={spki}")
    return args


class Worker:
    """A thread with its own Playwright (inside network namespace ``ns`` when given)."""

    def __init__(self, ns: str | None = None) -> None:
        self.ns = ns
        self.tasks: queue.Queue[Any] = queue.Queue()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        assert self.ready.wait(60), "playwright did not start"
        if self.error:
            raise self.error

    def _main(self) -> None:
        try:
            if self.ns:
                from netns import enter
                enter(self.ns)
            from playwright.sync_api import sync_playwright
            with sync_playwright() as pw:
                self.pw = pw
                self.ready.set()
                while True:
                    item = self.tasks.get()
                    if item is None:
                        return
                    fn, args, box, done = item
                    try:
                        box["value"] = fn(self, *args)
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller
                        box["error"] = exc
                    done.set()
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            self.ready.set()

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 180.0) -> Any:
        box: dict[str, Any] = {}
        done = threading.Event()
        self.tasks.put((fn, args, box, done))
        if not done.wait(timeout):
            raise TimeoutError(f"{fn.__name__} took over {timeout} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def close(self) -> None:
        self.tasks.put(None)
        self.thread.join(30)


def setup_people(base: str, n: int, verify: Any = True) -> dict[str, Any]:
    """n users (the first owns a server with a voice channel; the others join by invite)."""
    tag = f"{os.getpid()}{int(time.time() * 1000) % 100000}"
    people = []
    with httpx.Client(base_url=base, timeout=30, verify=verify) as c:
        for i in range(n):
            r = c.post("/auth/register", json={"username": f"v{tag}_{i}", "password": PASSWORD})
            assert r.status_code == 201, r.text
            people.append(r.json())
        owner = {"Authorization": f"Bearer {people[0]['access_token']}"}
        server = c.post("/servers", json={"name": "Voice party"}, headers=owner).json()
        channel = c.post(f"/servers/{server['id']}/channels", json={"name": "Lounge", "type": "voice"},
                         headers=owner).json()
        invite = c.post(f"/servers/{server['id']}/invites", json={}, headers=owner).json()
        for p in people[1:]:
            r = c.post(f"/invites/{invite['code']}/accept", headers={"Authorization": f"Bearer {p['access_token']}"})
            assert r.status_code in (200, 201), r.text
    return {"people": people, "server_id": server["id"], "channel_id": channel["id"]}


def _stored(body: dict[str, Any]) -> str:
    payload = body["access_token"].split(".")[1]
    exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    return json.dumps({"access_token": body["access_token"], "refresh_token": body["refresh_token"],
                       "user": body["user"], "exp": exp * 1000})


class Seat:
    """One person's Chromium and page (lives in its Worker's thread)."""

    def __init__(self, worker: Worker, body: dict[str, Any]) -> None:
        self.worker, self.body = worker, body
        self.id = body["user"]["id"]
        self.errors: list[str] = []


def _open(w: Worker, seat: Seat, url: str, args: list[str]) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install -y chromium (.ci/run does)"
    seat.browser = w.pw.chromium.launch(executable_path=CHROMIUM, args=args)  # type: ignore[attr-defined]
    ctx = seat.browser.new_context()  # type: ignore[attr-defined]
    ctx.add_init_script(
        "if (!sessionStorage.getItem('seeded')) { sessionStorage.setItem('seeded', '1');"
        f" localStorage.setItem('together.auth', {json.dumps(_stored(seat.body))}); }}")
    page = ctx.new_page()
    page.set_default_timeout(90_000)  # six Chromiums on a shared 2-core machine are slow to start
    page.on("pageerror", lambda e: seat.errors.append(f"pageerror: {e}"))
    page.goto(url)
    page.get_by_role("button", name="Join voice").wait_for()
    seat.page = page  # type: ignore[attr-defined]


def _eval(w: Worker, seat: Seat, script: str, arg: Any = None) -> Any:
    return seat.page.evaluate(script, arg)  # type: ignore[attr-defined]


def _click(w: Worker, seat: Seat, name: str) -> None:
    seat.page.get_by_role("button", name=name, exact=True).click()  # type: ignore[attr-defined]


def _close(w: Worker, seat: Seat) -> None:
    browser = getattr(seat, "browser", None)
    if browser is not None:
        browser.close()


WAIT_AUDIO = """async ([others, timeoutMs]) => {
  const v = window.togetherVoice, first = {};
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await v.stats();
    for (const p of s.peers) if (p.inbound_audio_bytes > 0 && !(p.user_id in first)) first[p.user_id] = Date.now() - v.state.clickAt;
    if (others.every((u) => u in first)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return first;
}"""

STATS = "async () => window.togetherVoice.stats()"
SECURE = "() => ({secure: window.isSecureContext, proto: location.protocol})"
PAIR_KIND = """async () => {
  const out = [];
  for (const p of window.togetherVoice.state.peers.values()) {
    const st = await p.pc.getStats(); let pair = null; const c = {};
    st.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = st.get(r.selectedCandidatePairId); });
    if (pair) { const l = st.get(pair.localCandidateId), r = st.get(pair.remoteCandidateId);
      out.push({local: l && l.candidateType, remote: r && r.candidateType, address: r && (r.address || r.ip), protocol: l && l.protocol}); }
  }
  return out;
}"""


class Call:
    """The scenario over ``seats`` (Seat per person, each bound to a Worker)."""

    def __init__(self, url: str, seats: list[Seat], args: Callable[[Seat], list[str]]) -> None:
        self.url, self.seats, self.args = url, seats, args
        self.join_ms: list[float] = []

    def run_in(self, seat: Seat, fn: Callable[..., Any], *a: Any, timeout: float = 180.0) -> Any:
        return seat.worker.call(fn, seat, *a, timeout=timeout)

    def open_all(self) -> None:
        for s in self.seats:
            self.run_in(s, _open, self.url, self.args(s))

    def secure(self, seat: Seat) -> dict[str, Any]:
        return self.run_in(seat, _eval, SECURE)  # type: ignore[no-any-return]

    def stats(self, seat: Seat) -> dict[str, Any]:
        return self.run_in(seat, _eval, STATS)  # type: ignore[no-any-return]

    def join_all(self, audio_timeout_ms: int = 60_000) -> None:
        """Each person joins in turn; record how long until they hear everyone before them."""
        for i, s in enumerate(self.seats):
            self.run_in(s, _click, "Join voice")
            others = [o.id for o in self.seats[:i]]
            first = self.run_in(s, _eval, WAIT_AUDIO, [others, audio_timeout_ms])
            missing = [o for o in others if o not in first]
            assert not missing, f"person {i} never received audio from {missing}: {self.stats(s)}"
            self.join_ms += [first[o] for o in others]

    def wait_mesh(self, timeout: float = 60.0) -> None:
        """Every person has a connected peer connection to every other person."""
        deadline = time.monotonic() + timeout
        while True:
            bad = []
            for s in self.seats:
                st = self.stats(s)
                states = {p["user_id"]: p["state"] for p in st["peers"]}
                want = {o.id for o in self.seats if o is not s}
                if set(states) != want or any(v != "connected" for v in states.values()):
                    bad.append((s.id, states))
            if not bad:
                return
            assert time.monotonic() < deadline, f"mesh not connected: {bad}"
            time.sleep(0.25)

    def inbound(self) -> dict[tuple[str, str], int]:
        """(listener id, speaker id) -> inbound audio bytes so far."""
        out = {}
        for s in self.seats:
            for p in self.stats(s)["peers"]:
                out[(s.id, p["user_id"])] = p["inbound_audio_bytes"]
        return out

    def growth(self, seconds: float = 1.5) -> dict[tuple[str, str], int]:
        a = self.inbound()
        time.sleep(seconds)
        b = self.inbound()
        return {k: b.get(k, 0) - a.get(k, 0) for k in a}

    def click(self, seat: Seat, name: str) -> None:
        self.run_in(seat, _click, name)

    def candidate_kinds(self, seat: Seat) -> list[dict[str, Any]]:
        return self.run_in(seat, _eval, PAIR_KIND)  # type: ignore[no-any-return]

    def close(self) -> None:
        for s in self.seats:
            try:
                self.run_in(s, _close, timeout=30)
            except Exception:  # noqa: BLE001 - closing what is left
                pass


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    import math

    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
