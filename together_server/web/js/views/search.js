// Search (API.md §7): a box per server with the query syntax hints, highlighted hits
// (the `highlight` HTML split on <mark> into text nodes), jump to the message.

import { html, useState } from "../html.js";
import { api } from "../api.js";
import { S, changed, channelById } from "../store.js";
import { navigate } from "../actions.js";
import { highlight } from "../markdown.js";
import { full } from "../time.js";

const HINTS = [
  ["from:alice", "messages by a user"], ["in:general", "in a channel"], ["has:link", "with a link"],
  ["before:2026-01-31", "before a day"], ["after:2026-01-01", "after a day"], ['"exact phrase"', "words in order"],
  ["deplo*", "a word prefix"],
];

export async function runSearch(sid, q, before) {
  S.search = { sid, q, results: before ? S.search.results : [], loading: true, error: null };
  changed();
  try {
    const r = await api("GET", `/servers/${sid}/search?q=${encodeURIComponent(q)}&limit=25${before ? "&before=" + before : ""}`);
    S.search = { sid, q, results: [...S.search.results, ...r.results], total: r.total, next: r.has_more ? r.next_cursor : null, loading: false };
  } catch (e) {
    S.search = { sid, q, results: [], loading: false, error: (e.errors && e.errors.q) || e.message };
  }
  changed();
}

export function SearchBox({ sid, onSearch }) {
  const [q, setQ] = useState(S.search && S.search.sid === sid ? S.search.q : "");
  const [focus, setFocus] = useState(false);
  const submit = (e) => { e.preventDefault(); if (q.trim().length >= 2) { runSearch(sid, q.trim()); onSearch(); } };
  return html`<form class="search" role="search" onSubmit=${submit}>
    <input type="search" aria-label="Search this server" placeholder="Search" value=${q}
      onInput=${(e) => setQ(e.target.value)} onFocus=${() => setFocus(true)} onBlur=${() => setTimeout(() => setFocus(false), 150)} />
    ${focus && !q && html`<div class="hints" role="note" aria-label="Search syntax">
      ${HINTS.map(([k, v]) => html`<div><button type="button" class="link" onMouseDown=${(e) => { e.preventDefault(); setQ(k.includes(":") ? k.split(":")[0] + ":" : k); }}><code>${k}</code></button> ${v}</div>`)}
    </div>`}
  </form>`;
}

export function SearchResults({ sid }) {
  const s = S.search;
  if (!s) return null;
  return html`<aside class="panel" aria-label="Search results">
    <header><h3>${s.loading && !s.results.length ? "Searching…" : `${s.total ?? 0}${s.total >= 1000 ? "+" : ""} result${s.total === 1 ? "" : "s"}`}</h3>
      <button class="icon small" aria-label="Close search" onClick=${() => { S.search = null; changed(); }}>✕</button></header>
    ${s.error && html`<p class="error" role="alert">${s.error}</p>`}
    <ul class="hits">
      ${s.results.map((r) => {
        const ch = channelById(r.channel_id);
        return html`<li key=${r.id}><button class="hit" onClick=${() => navigate(`#/channels/${sid}/${r.channel_id}/${r.id}`)}
            aria-label=${`Jump to message by ${r.author_username} in ${ch ? ch.name : "a channel"}`}>
          <div class="hit-head"><strong>${r.author_username}</strong> <span class="hint">#${ch ? ch.name : "?"} · ${full(r.created_at)}</span></div>
          <div class="hit-text" dir="auto">${highlight(r.highlight)}</div></button></li>`;
      })}
    </ul>
    ${s.next && html`<button onClick=${() => runSearch(sid, s.q, s.next)}>More results</button>`}
  </aside>`;
}
