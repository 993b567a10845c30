// #/browse: public servers, with join.

import { html, useEffect, useState } from "../html.js";
import { api } from "../api.js";
import { S } from "../store.js";
import { navigate, fail } from "../actions.js";
import { DrawerButton } from "./channel.js";

export function Browse() {
  const [list, setList] = useState(null);
  useEffect(() => { api("GET", "/servers/browse").then(setList, fail); }, []);
  async function join(s) {
    try { await api("POST", `/servers/${s.id}/join`); navigate(`#/channels/${s.id}`); } catch (e) { fail(e); }
  }
  return html`<main class="main" aria-label="Browse servers">
    <header class="chan-head"><${DrawerButton} /><h1>Public servers</h1></header>
    <ul class="browse">
      ${list === null && html`<li>Loading…</li>`}
      ${list && list.length === 0 && html`<li class="hint">No public servers yet.</li>`}
      ${(list || []).map((s) => html`<li key=${s.id} class="card">
        <strong dir="auto">${s.name}</strong> <span class="hint">${s.member_count} members</span>
        ${S.servers[s.id] ? html`<button onClick=${() => navigate(`#/channels/${s.id}`)}>Open</button>`
          : s.require_invite ? html`<span class="hint">invite only</span>` : html`<button class="primary" onClick=${() => join(s)}>Join</button>`}
      </li>`)}
    </ul>
  </main>`;
}
