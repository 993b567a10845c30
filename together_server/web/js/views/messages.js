// The message list: newest at the bottom, older pages on scroll up (a bounded window,
// newer pages again on scroll down), a "new messages" divider from the read state, acks
// while at the bottom, a jump target highlighted, "X is typing…".

import { html, h, Component, useEffect, useLayoutEffect, useRef } from "../html.js";
import { S, bucket, changed, nameOf } from "../store.js";
import { loadOlder, loadNewer, ack } from "../actions.js";
import { Message } from "./message.js";
import { day } from "../time.js";

function typingLine(cid) {
  const t = S.typing[cid];
  if (!t) return "";
  const now = Date.now();
  const names = Object.values(t).filter((x) => x.until > now).map((x) => x.name);
  if (!names.length) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
  return "Several people are typing…";
}

function sameDay(a, b) { return a.slice(0, 10) === b.slice(0, 10); }

/** A message re-renders only when it, its neighbourhood or S.epoch changed (a long list stays cheap). */
class Row extends Component {
  shouldComponentUpdate(next) {
    const p = this.props;
    return next.m !== p.m || next.compact !== p.compact || next.epoch !== p.epoch || next.target !== p.target;
  }
  render(props) { return h(Message, props); }
}

export function MessageList({ cid, sid, dm }) {
  const ref = useRef(null);
  const anchor = useRef(null);
  const divider = useRef(undefined);
  const unreadAtOpen = useRef(S.unread[cid] || 0);
  const b = bucket(cid);
  const items = b.items;

  // the divider: before the oldest of the unread messages counted at open
  if (divider.current === undefined && b.loaded) {
    let n = unreadAtOpen.current;
    divider.current = null;
    for (let i = items.length - 1; i >= 0 && n > 0; i--) {
      if (!S.me || items[i].author_id !== S.me.id) { n -= 1; if (n === 0) divider.current = items[i].id; }
    }
    if (n > 0 && items.length) divider.current = items[0].id;
  }

  // a channel opened again starts at its newest message (or at the jump target)
  useLayoutEffect(() => { b.scrolled = false; b.atBottom = undefined; }, [cid]);

  function keepAnchor() {
    const el = ref.current;
    if (!el) return;
    for (const child of el.querySelectorAll("[data-mid]")) {
      if (child.offsetTop + child.offsetHeight > el.scrollTop) {
        const ends = items.length ? items[0].id + items[items.length - 1].id : "";
        anchor.current = { id: child.dataset.mid, delta: child.offsetTop - el.scrollTop, ends };
        return;
      }
    }
  }

  function onScroll() {
    const el = ref.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    b.atBottom = atBottom && !b.hasNewer;
    // a page that brought nothing new leaves the anchor unused: drop it
    const done = () => setTimeout(() => {
      const ends = b.items.length ? b.items[0].id + b.items[b.items.length - 1].id : "";
      if (anchor.current && anchor.current.ends === ends) anchor.current = null;
    }, 100);
    if (el.scrollTop < 300 && b.hasOlder && !b.loading) { keepAnchor(); loadOlder(cid).catch(() => {}).then(done); }
    else if (el.scrollHeight - el.scrollTop - el.clientHeight < 300 && b.hasNewer && !b.loading) { keepAnchor(); loadNewer(cid).catch(() => {}).then(done); }
    if (b.atBottom && document.visibilityState === "visible") ack(cid);
  }

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (anchor.current) {
      // kept until the page arrives (other renders may come first), then the view stays put
      const ends = items.length ? items[0].id + items[items.length - 1].id : "";
      if (ends === anchor.current.ends) return;
      const a = el.querySelector(`[data-mid="${anchor.current.id}"]`);
      if (a) el.scrollTop = a.offsetTop - anchor.current.delta;
      anchor.current = null;
      requestAnimationFrame(onScroll);  // still at an end: the next page
      return;
    }
    if (S.jump) {
      const a = el.querySelector(`[data-mid="${S.jump}"]`);
      if (a) { a.scrollIntoView({ block: "center" }); a.classList.add("flash"); S.jump = null; b.atBottom = false; return; }
    }
    if (b.atBottom !== false || !b.scrolled) {
      el.scrollTop = el.scrollHeight;
      if (b.loaded) { b.scrolled = true; b.atBottom = !b.hasNewer; }
    }
  });

  useEffect(() => {
    if (b.loaded && b.atBottom && document.visibilityState === "visible") ack(cid);
  });

  useEffect(() => {
    const t = setInterval(() => { if (S.typing[cid]) changed(); }, 3000);
    return () => clearInterval(t);
  }, [cid]);

  const out = [];
  const byId = new Map(items.map((m) => [m.id, m]));
  let prev = null;
  for (const m of items) {
    if (divider.current === m.id) out.push(html`<div class="divider" key="divider" role="separator" aria-label="New messages"><span>New messages</span></div>`);
    if (!prev || !sameDay(prev.created_at, m.created_at)) {
      out.push(html`<div class="day" key=${"day" + m.id} role="separator">${day(m.created_at)}</div>`);
    }
    const compact = prev && prev.author_id === m.author_id && !m.reply_to && divider.current !== m.id
      && Date.parse(m.created_at) - Date.parse(prev.created_at) < 5 * 60000;
    const target = m.reply_to ? byId.get(m.reply_to) || null : null;
    out.push(html`<${Row} key=${m.id} m=${m} cid=${cid} sid=${sid} dm=${dm} compact=${compact} target=${target} epoch=${S.epoch || 0} />`);
    prev = m;
  }
  const typing = typingLine(cid);
  return html`<div class="messages-wrap">
    <div class="messages" ref=${ref} onScroll=${onScroll} role="log" aria-label="Messages" aria-live="polite" tabindex="0">
      ${b.hasOlder && b.loaded && html`<div class="more">${b.loading ? "Loading older messages…" : "Scroll up for older messages"}</div>`}
      ${!b.hasOlder && b.loaded && html`<div class="start">This is the start of ${dm ? "your conversation" : "the channel"}.</div>`}
      ${!b.loaded && html`<div class="more">Loading…</div>`}
      ${out}
      ${b.hasNewer && html`<div class="more">Loading newer messages…</div>`}
    </div>
    <div class="typing" aria-live="polite">${typing}</div>
  </div>`;
}

export { nameOf };
