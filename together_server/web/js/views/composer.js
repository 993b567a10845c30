// The composer: Enter sends, Shift+Enter is a new line; typing notices (throttled);
// @mention autocomplete from the member list; the reply preview; files by drag and drop,
// paste or picker, sent with the message in one multipart POST with upload progress (issue 10).

import { html, useRef, useState } from "../html.js";
import { api } from "../api.js";
import { S, changed, live, nameOf } from "../store.js";
import { fail, isDm } from "../actions.js";
import { can, P } from "../perms.js";
import { postWithFiles, PendingFiles } from "./attachments.js";

const TYPING_EVERY = 6000;  // the server relays at most one per 5 s (API.md §6.3)

function mentionQuery(text, caret) {
  const before = text.slice(0, caret);
  const m = before.match(/(?:^|[^A-Za-z0-9_-])@([A-Za-z0-9_-]{0,32})$/);
  return m ? { q: m[1], start: caret - m[1].length - 1 } : null;
}

export function Composer({ cid, sid, dm, name }) {
  const [text, setText] = useState("");
  const [files, setFiles] = useState([]);
  const [suggest, setSuggest] = useState(null);
  const [sel, setSel] = useState(0);
  const [drag, setDrag] = useState(false);
  const lastTyping = useRef(0);
  const area = useRef(null);
  const fileInput = useRef(null);
  const reply = S.replyTo && S.replyTo.cid === cid ? S.replyTo.m : null;
  const allowed = dm || can(sid, P.SEND_MESSAGES, cid);
  const attach = dm || can(sid, P.ATTACH_FILES, cid);

  function candidates(q) {
    const pool = dm ? [] : (S.members[sid] || []).map((m) => m.username);
    const lower = q.toLowerCase();
    const list = pool.filter((u) => u.toLowerCase().startsWith(lower)).slice(0, 8);
    if (!dm && "everyone".startsWith(lower) && can(sid, P.MANAGE_MESSAGES, cid)) list.push("everyone");
    return list;
  }

  function onInput(e) {
    const value = e.target.value;
    setText(value);
    const mq = mentionQuery(value, e.target.selectionStart);
    if (mq) { const list = candidates(mq.q); setSuggest(list.length ? { ...mq, list } : null); setSel(0); } else setSuggest(null);
    const now = Date.now();
    if (!dm && value && now - lastTyping.current > TYPING_EVERY && live.gateway) {
      lastTyping.current = now;
      live.gateway.send({ op: "TYPING_START", d: { channel_id: cid } });
    }
  }

  function complete(username) {
    const el = area.current;
    const caret = el.selectionStart;
    const next = text.slice(0, suggest.start) + "@" + username + " " + text.slice(caret);
    setText(next);
    setSuggest(null);
    const pos = suggest.start + username.length + 2;
    requestAnimationFrame(() => { el.focus(); el.setSelectionRange(pos, pos); });
  }

  async function send() {
    const value = area.current ? area.current.value : text;  // what is in the box right now
    const content = value.trim() ? value : "";
    if (!content && !files.length) return;
    const body = { content };
    if (reply) body.reply_to = reply.id;
    const pending = files;
    setText("");
    setFiles([]);
    setSuggest(null);
    if (reply) { S.replyTo = null; changed(); }
    lastTyping.current = 0;
    try {
      const path = isDm(cid) ? `/dm-channels/${cid}/messages` : `/channels/${cid}/messages`;
      if (pending.length) {
        S.upload = { cid, p: 0, names: pending.map((f) => f.name || "pasted image") };
        changed();
        await postWithFiles(path, content, body.reply_to, pending, (p) => { S.upload = { ...S.upload, p }; changed(); });
      } else await api("POST", path, body);
    } catch (e) {
      setText(content);  // nothing is lost: put it back (and the files)
      if (pending.length) setFiles(pending);
      fail(e);
    } finally { if (S.upload) { S.upload = null; changed(); } }
  }

  function onKey(e) {
    if (suggest) {
      if (e.key === "ArrowDown") { e.preventDefault(); setSel((sel + 1) % suggest.list.length); return; }
      if (e.key === "ArrowUp") { e.preventDefault(); setSel((sel - 1 + suggest.list.length) % suggest.list.length); return; }
      if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); complete(suggest.list[sel]); return; }
      if (e.key === "Escape") { setSuggest(null); return; }
    }
    if (e.key === "Escape" && reply) { S.replyTo = null; changed(); return; }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  }

  const addFiles = (list) => { if (attach && list && list.length) setFiles([...files, ...list].slice(0, 10)); };
  const onPaste = (e) => { const fs = [...(e.clipboardData ? e.clipboardData.files : [])]; if (fs.length) { e.preventDefault(); addFiles(fs); } };
  const onDrop = (e) => { e.preventDefault(); setDrag(false); addFiles([...e.dataTransfer.files]); };

  if (!allowed) return html`<div class="composer readonly">You cannot send messages in this channel.</div>`;
  return html`<div class=${"composer" + (drag ? " dragging" : "")} onDragOver=${(e) => { e.preventDefault(); setDrag(true); }}
      onDragLeave=${() => setDrag(false)} onDrop=${onDrop}>
    ${reply && html`<div class="replying">Replying to <strong>${nameOf(reply.author_id)}</strong>: <span dir="auto">${reply.content.slice(0, 80)}</span>
      <button class="icon small" aria-label="Cancel reply" onClick=${() => { S.replyTo = null; changed(); }}>✕</button></div>`}
    <${PendingFiles} files=${files} remove=${(i) => setFiles(files.filter((_, j) => j !== i))} upload=${S.upload && S.upload.cid === cid ? S.upload : null} />
    ${suggest && html`<ul class="suggest" role="listbox" aria-label="Mention suggestions">
      ${suggest.list.map((u, i) => html`<li role="option" aria-selected=${i === sel ? "true" : "false"} class=${i === sel ? "sel" : ""}
        onMouseDown=${(e) => { e.preventDefault(); complete(u); }}>@${u}</li>`)}</ul>`}
    <div class="compose-row">
      ${attach && html`<button class="icon" aria-label="Attach files" title="Attach files" onClick=${() => fileInput.current.click()}>📎</button>
        <input type="file" multiple hidden ref=${fileInput} aria-label="Choose files" onChange=${(e) => { addFiles([...e.target.files]); e.target.value = ""; }} />`}
      <textarea ref=${area} rows="1" dir="auto" value=${text} placeholder=${`Message ${dm ? "@" : "#"}${name}`}
        aria-label=${`Message ${dm ? "@" : "#"}${name}`} maxlength="4000"
        onInput=${onInput} onKeyDown=${onKey} onPaste=${onPaste}></textarea>
      <button class="primary send" aria-label="Send message" onClick=${send}>Send</button>
    </div>
  </div>`;
}
