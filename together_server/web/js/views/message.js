// One message: author, time, content (safe Markdown), reply preview, reactions with who
// reacted, attachments, and its tools (reply, react, edit, delete, pin) where permitted.

import { html, useState } from "../html.js";
import { api } from "../api.js";
import { S, changed, nameOf } from "../store.js";
import { fail } from "../actions.js";
import { render as md } from "../markdown.js";
import { can, P } from "../perms.js";
import { openModal } from "./modal.js";
import { clock, full } from "../time.js";
import { Attachments } from "./attachments.js";

export const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "🔥", "👀", "✅"];

const time = clock;

function Reply({ target }) {
  const jump = () => { if (target) { const el = document.querySelector(`[data-mid="${target.id}"]`); if (el) el.scrollIntoView({ block: "center" }); } };
  return html`<button class="reply-preview" onClick=${jump} aria-label="Replying to a message">
    <span aria-hidden="true">↪</span>
    ${target ? html`<strong>${nameOf(target.author_id)}</strong> <span dir="auto">${target.content.slice(0, 120)}</span>` : html`<em>an earlier message</em>`}
  </button>`;
}

function Reactions({ m, cid, sid }) {
  const [who, setWho] = useState({});
  const list = m.reactions || [];
  if (!list.length) return null;
  async function toggle(r) {
    const path = `/channels/${cid}/messages/${m.id}/reactions/${encodeURIComponent(r.emoji)}`;
    try { await api(r.me ? "DELETE" : "PUT", path); } catch (e) { fail(e); }
  }
  async function loadWho(r) {
    if (who[r.emoji]) return;
    try {
      const users = await api("GET", `/channels/${cid}/messages/${m.id}/reactions/${encodeURIComponent(r.emoji)}`);
      setWho({ ...who, [r.emoji]: users.map((u) => u.username) });
    } catch { /* the list is a nicety */ }
  }
  return html`<div class="reactions" role="group" aria-label="Reactions">
    ${list.map((r) => {
      const names = who[r.emoji];
      const label = `${r.emoji} ${r.count}` + (names ? ": " + names.join(", ") : "") + (r.me ? " (you reacted; click to remove)" : " (click to react)");
      return html`<button key=${r.emoji} class=${"reaction" + (r.me ? " me" : "")} aria-pressed=${r.me ? "true" : "false"}
        aria-label=${label} title=${names ? names.join(", ") : "…"} onMouseEnter=${() => loadWho(r)} onFocus=${() => loadWho(r)}
        onClick=${() => toggle(r)}>${r.emoji} <span class="count">${r.count}</span></button>`;
    })}
  </div>`;
}

function Picker({ m, cid, close }) {
  async function pick(e) {
    close();
    try { await api("PUT", `/channels/${cid}/messages/${m.id}/reactions/${encodeURIComponent(e)}`); } catch (ex) { fail(ex); }
  }
  return html`<div class="picker" role="menu" aria-label="Pick a reaction">
    ${EMOJI.map((e) => html`<button role="menuitem" class="icon" aria-label=${"React with " + e} onClick=${() => pick(e)}>${e}</button>`)}
  </div>`;
}

function Editor({ m, done }) {
  const [text, setText] = useState(m.content);
  async function save() {
    if (!text.trim()) return;
    try { await api("PATCH", `/messages/${m.id}`, { content: text }); done(); } catch (e) { fail(e); }
  }
  const onKey = (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); save(); }
    if (e.key === "Escape") { e.preventDefault(); done(); }
  };
  return html`<div class="editor">
    <textarea aria-label="Edit message" dir="auto" value=${text} onInput=${(e) => setText(e.target.value)} onKeyDown=${onKey} ref=${(el) => el && !el.dataset.f && (el.dataset.f = "1", el.focus())}></textarea>
    <div class="hint">Enter to save · Escape to cancel · Shift+Enter for a new line</div>
  </div>`;
}

export function Message({ m, cid, sid, dm, compact, target }) {
  const [editing, setEditing] = useState(false);
  const [picking, setPicking] = useState(false);
  const mine = S.me && m.author_id === S.me.id;
  const manage = !dm && can(sid, P.MANAGE_MESSAGES, cid);
  const react = !dm && can(sid, P.ADD_REACTIONS, cid);
  const mentioned = S.me && ((m.mention_user_ids || []).includes(S.me.id) || m.mention_everyone);

  const del = () => openModal("prompt", {
    title: "Delete this message?", submit: "Delete", danger: true, text: m.content.slice(0, 200),
    onSubmit: () => api("DELETE", dm ? `/dm-channels/${cid}/messages/${m.id}` : `/messages/${m.id}`),
  });
  const pin = () => api(m.pinned ? "DELETE" : "POST", `/channels/${cid}/messages/${m.id}/pin`).catch(fail);
  const reply = () => { S.replyTo = { cid, m }; changed(); const t = document.querySelector(".composer textarea"); if (t) t.focus(); };

  return html`<article class=${"msg" + (compact ? " compact" : "") + (mentioned ? " mentioned" : "") + (m.pending ? " pending" : "")}
    data-mid=${m.id} aria-label=${`${nameOf(m.author_id)} at ${time(m.created_at)}`}>
    ${m.reply_to && html`<${Reply} target=${target} />`}
    ${!compact && html`<header><strong class="author">${nameOf(m.author_id)}</strong>
      <time datetime=${m.created_at} title=${full(m.created_at)}>${time(m.created_at)}</time>
      ${m.pinned && html`<span class="tag" title="Pinned">📌 pinned</span>`}</header>`}
    ${editing ? html`<${Editor} m=${m} done=${() => setEditing(false)} />`
      : html`<div class="content" dir="auto">${md(m.content, { me: S.me && S.me.username })}${m.edited_at && html`<span class="edited" title=${m.edited_at}> (edited)</span>`}</div>`}
    <${Attachments} m=${m} />
    ${!dm && html`<${Reactions} m=${m} cid=${cid} sid=${sid} />`}
    <div class="tools" role="toolbar" aria-label="Message actions">
      ${!dm && html`<button class="icon small" aria-label="Reply" title="Reply" onClick=${reply}>↩</button>`}
      ${react && html`<button class="icon small" aria-label="Add reaction" title="Add reaction" aria-expanded=${picking ? "true" : "false"} onClick=${() => setPicking(!picking)}>☺</button>`}
      ${mine && !dm && html`<button class="icon small" aria-label="Edit message" title="Edit" onClick=${() => setEditing(true)}>✎</button>`}
      ${manage && html`<button class="icon small" aria-label=${m.pinned ? "Unpin message" : "Pin message"} title=${m.pinned ? "Unpin" : "Pin"} onClick=${pin}>📌</button>`}
      ${(mine || manage) && html`<button class="icon small" aria-label="Delete message" title="Delete" onClick=${del}>🗑</button>`}
    </div>
    ${picking && html`<${Picker} m=${m} cid=${cid} close=${() => setPicking(false)} />`}
  </article>`;
}
