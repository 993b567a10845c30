"""The web client in headless Chromium (issue 11 "Done when"; not in CI).

1. First load: the JS + CSS bytes the page fetched (and their gzipped size), and the time
   from navigation to the first rendered message list.
2. Send -> render between two browsers: browser A types and presses Enter, browser B's DOM
   shows the message (a MutationObserver stamps it); p50/p99 over ``--messages`` (200).
   Baseline in the same run: the raw path without any UI, a ``fetch`` POST in page A to a
   bare ``WebSocket`` in page B receiving its MESSAGE_CREATE. "Browser adds" = UI - raw.
   Both pages share this machine's clock (``performance.timeOrigin + now()``).
3. A channel of ``--history`` (10,000) messages scrolled from bottom to top, 400 px per
   frame: the most message nodes ever in the DOM, and the longest frame (gap between two
   animation frames) while scrolling.

The daemon runs in its own process (rate limits off, argon2 cheap); everything shares this
machine's cores with the browser, so absolute figures include that contention.

Run: .venv/bin/python bench/bench_web.py [--messages 200] [--history 10000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from web_browser import Person, launch  # noqa: E402  (tests/web_browser.py: the launch flags)


def start_daemon(data_dir: str) -> tuple[subprocess.Popen[str], str]:
    code = "import sys; from bench.gateway_procs import serve_together; serve_together(sys.argv[1])"
    proc = subprocess.Popen([sys.executable, "-c", code, data_dir], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, json.loads(line)["url"]


def register(base: str, name: str) -> Person:
    r = httpx.post(base + "/auth/register", json={"username": name, "password": "correct horse"}, timeout=30)
    r.raise_for_status()
    return Person(base, name, r.json())


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


OBSERVE = """(prefix) => {
  window.__seen = {};
  const stamp = () => {
    for (const el of document.querySelectorAll('article.msg .content')) {
      const t = el.textContent;
      if (t.startsWith(prefix) && !(t in window.__seen)) window.__seen[t] = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver(stamp).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""

SEND_UI = """(text) => {
  const ta = document.querySelector('.composer textarea');
  const setter = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set;
  setter.call(ta, text);
  ta.dispatchEvent(new Event('input', {bubbles: true}));
  const t0 = performance.timeOrigin + performance.now();
  ta.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
  return t0;
}"""

RAW_LISTEN = """([token, prefix]) => new Promise((ok) => {
  window.__raw = {};
  const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.t === 'READY') ok(true);
    if (m.t === 'MESSAGE_CREATE' && m.d.content.startsWith(prefix)) window.__raw[m.d.content] = performance.timeOrigin + performance.now();
  };
})"""

RAW_SEND = """async ([cid, token, text]) => {
  const t0 = performance.timeOrigin + performance.now();
  await fetch(`/channels/${cid}/messages`, {method: 'POST', headers: {'Authorization': 'Bearer ' + token,
    'Content-Type': 'application/json'}, body: JSON.stringify({content: text})});
  return t0;
}"""

SCROLL = """async () => {
  const box = document.querySelector('.messages');
  let maxNodes = 0, longest = 0, frames = 0, last = performance.now();
  const started = last;
  while (performance.now() - started < 600000) {
    await new Promise((r) => requestAnimationFrame(r));
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    frames += 1;
    maxNodes = Math.max(maxNodes, document.querySelectorAll('article.msg').length);
    if (document.querySelector('.messages .start') && box.scrollTop === 0) break;
    box.scrollTop = Math.max(0, box.scrollTop - 400);
  }
  return {maxNodes, longest, frames, seconds: (performance.now() - started) / 1000,
          first: document.querySelector('article.msg .content').textContent};
}"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--history", type=int, default=10_000)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    data = tempfile.mkdtemp(prefix="bench-web-")
    proc, base = start_daemon(data)
    try:
        alice, bob = register(base, "alice"), register(base, "bob")
        sid = alice.api("POST", "/servers", json={"name": "bench"})["id"]
        cid = alice.api("POST", f"/servers/{sid}/channels", json={"name": "general", "type": "text"})["id"]
        hist = alice.api("POST", f"/servers/{sid}/channels", json={"name": "history", "type": "text"})["id"]
        code = alice.api("POST", f"/servers/{sid}/invites", json={})["code"]
        bob.api("POST", f"/invites/{code}/accept")
        for i in range(30):
            alice.api("POST", f"/channels/{cid}/messages", json={"content": f"warm-up **{i}** with a https://example.org link"})

        with sync_playwright() as pw:
            browser = launch(pw)
            # 1. first load
            loaded: dict[str, bytes] = {}
            ctx = browser.new_context()
            ctx.add_init_script(f"localStorage.setItem('together.auth', {json.dumps(json.dumps(alice.stored()))})")
            page = ctx.new_page()

            def keep(resp: Any) -> None:
                if resp.url.endswith((".js", ".css")):
                    try:
                        loaded[resp.url] = resp.body()
                    except Exception:  # noqa: BLE001 - a body the browser dropped
                        pass
            page.on("response", keep)
            t0 = time.perf_counter()
            page.goto(f"{base}/#/channels/{sid}/{cid}")
            page.wait_for_selector("article.msg")
            first_list_ms = (time.perf_counter() - t0) * 1000
            raw_bytes = sum(len(b) for b in loaded.values())
            gz_bytes = sum(len(gzip.compress(b, 9)) for b in loaded.values())
            ctx.close()

            # 2. send -> render, UI vs raw
            alice.open(browser, f"#/channels/{sid}/{cid}")
            bob.open(browser, f"#/channels/{sid}/{cid}")
            pa, pb = alice.page, bob.page
            assert pa and pb
            pa.wait_for_selector("article.msg")
            pb.wait_for_selector("article.msg")
            pb.evaluate(OBSERVE, "ui ")
            sent: dict[str, float] = {}
            for i in range(args.messages):
                text = f"ui {i:04d}"
                sent[text] = pa.evaluate(SEND_UI, text)
                pa.wait_for_timeout(40)
            pb.wait_for_function("(n) => Object.keys(window.__seen).length >= n", arg=args.messages, timeout=60_000)
            seen = pb.evaluate("window.__seen")
            ui = [seen[t] - sent[t] for t in sent]

            raw_page = bob.context.new_page()  # type: ignore[union-attr]
            raw_page.goto(base + "/docs")  # any same-origin page
            raw_page.evaluate(RAW_LISTEN, [bob.auth["access_token"], "raw "])
            sent_raw: dict[str, float] = {}
            for i in range(args.messages):
                text = f"raw {i:04d}"
                sent_raw[text] = pa.evaluate(RAW_SEND, [cid, alice.auth["access_token"], text])
                pa.wait_for_timeout(40)
            raw_page.wait_for_function("(n) => Object.keys(window.__raw).length >= n", arg=args.messages, timeout=60_000)
            got = raw_page.evaluate("window.__raw")
            raw = [got[t] - sent_raw[t] for t in sent_raw]
            raw_page.close()
            pb.bring_to_front()  # a background tab gets one animation frame per second

            # 3. 10,000 messages scrolled bottom to top
            t_fill = time.perf_counter()

            def post(i: int) -> None:
                alice.http.post(f"/channels/{hist}/messages", json={"content": f"history {i:05d}: some chat text to scroll past"})
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(post, range(args.history)))
            fill_s = time.perf_counter() - t_fill
            pb.goto(f"{base}/#/channels/{sid}/{hist}")
            pb.wait_for_selector("article.msg")
            scroll = pb.evaluate(SCROLL)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)

    print("bench/bench_web.py — headless Debian Chromium, daemon on loopback, shared machine")
    print(f"command: .venv/bin/python bench/bench_web.py --messages {args.messages} --history {args.history}")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| first load: JS + CSS fetched | {raw_bytes / 1024:.1f} KB raw, {gz_bytes / 1024:.1f} KB gzipped ({len(loaded)} files) |")
    print(f"| first load: navigation -> first message list rendered | {first_list_ms:.0f} ms |")
    print(f"| send -> render, browser to browser (UI), p50 / p99 | {statistics.median(ui):.1f} / {pct(ui, 0.99):.1f} ms |")
    print(f"| raw gateway delivery (fetch POST -> WebSocket MESSAGE_CREATE), p50 / p99 | {statistics.median(raw):.1f} / {pct(raw, 0.99):.1f} ms |")
    print(f"| browser adds at p50 (UI - raw) | {statistics.median(ui) - statistics.median(raw):.1f} ms (goal < 20) |")
    print(f"| {args.history} messages scrolled bottom -> top: most message nodes in the DOM | {scroll['maxNodes']} (goal <= 500) |")
    print(f"| ... longest frame while scrolling | {scroll['longest']:.1f} ms over {scroll['frames']} frames, {scroll['seconds']:.1f} s (goal <= 50) |")
    print(f"| ... oldest message reached | {scroll['first'][:14]!r} (the channel was filled in {fill_s:.1f} s by 8 parallel posters) |")


if __name__ == "__main__":
    main()
