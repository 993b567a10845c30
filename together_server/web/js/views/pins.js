// Pinned messages of a channel (most recently pinned first), with jump.

import { html, useEffect, useState } from "../html.js";
import { api } from "../api.js";
import { S, nameOf, channelById } from "../store.js";
import { navigate, fail } from "../actions.js";
import { render as md } from "../markdown.js";

export function Pins({ cid }) {
  const [list, setList] = useState(null);
  const b = S.msgs[cid];
  const pinnedKey = b ? b.items.filter((m) => m.pinned).map((m) => m.id).join() : "";
  useEffect(() => { api("GET", `/channels/${cid}/pinned-messages`).then(setList, fail); }, [cid, pinnedKey]);
  const ch = channelById(cid);
  return html`<aside class="panel" aria-label="Pinned messages">
    <header><h3>Pinned messages</h3></header>
    ${list === null && html`<p>Loading…</p>`}
    ${list && list.length === 0 && html`<p class="hint">Nothing is pinned here yet.</p>`}
    <ul class="hits">${(list || []).map((m) => html`<li key=${m.id}>
      <button class="hit" aria-label=${"Jump to pinned message by " + nameOf(m.author_id)} onClick=${() => navigate(`#/channels/${ch.server_id}/${cid}/${m.id}`)}>
        <div class="hit-head"><strong>${nameOf(m.author_id)}</strong></div>
        <div class="hit-text" dir="auto">${md(m.content)}</div></button></li>`)}</ul>
  </aside>`;
}
