// The servers rail: home (DMs), each server with an unread dot and a mention count, create, browse.

import { html } from "../html.js";
import { api } from "../api.js";
import { S } from "../store.js";
import { navigate } from "../actions.js";
import { openModal } from "./modal.js";

export function initials(name) {
  const words = (name || "?").trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? [...words[0]][0] + [...words[1]][0] : [...(words[0] || "?")].slice(0, 2).join("")).toUpperCase();
}

function serverCounts(sid) {
  let unread = 0, mentions = 0;
  for (const c of S.channels[sid] || []) { unread += S.unread[c.id] || 0; mentions += S.mentions[c.id] || 0; }
  return { unread, mentions };
}

function dmUnread() {
  let n = 0;
  for (const d of S.dms) n += S.unread[d.id] || 0;
  return n;
}

export function createServer() {
  openModal("prompt", {
    title: "Create a server", submit: "Create",
    fields: [{ name: "name", label: "Server name", required: true, max: 100 },
      { name: "is_public", label: "List it in Browse servers (anyone may join)", type: "checkbox" }],
    onSubmit: async (v) => {
      const s = await api("POST", "/servers", { name: v.name, is_public: v.is_public });
      await api("POST", `/servers/${s.id}/channels`, { name: "general", type: "text" });
      navigate(`#/channels/${s.id}`);
    },
  });
}

export function Rail() {
  const r = S.route;
  const dms = dmUnread();
  return html`<nav class="rail" aria-label="Servers">
    <button class=${"rail-item home" + (r.view === "home" || r.view === "dm" ? " active" : "")}
      aria-label=${"Direct messages" + (dms ? `, ${dms} unread` : "")} title="Direct messages" onClick=${() => navigate("#/")}>
      ✉${dms > 0 && html`<span class="badge" aria-hidden="true">${dms > 99 ? "99+" : dms}</span>`}
    </button>
    <hr />
    ${S.order.map((sid) => {
      const s = S.servers[sid];
      if (!s) return null;
      const { unread, mentions } = serverCounts(sid);
      const label = s.name + (mentions ? `, ${mentions} mentions` : unread ? ", unread messages" : "");
      return html`<button key=${sid} class=${"rail-item" + (r.sid === sid ? " active" : "")} aria-label=${label} title=${s.name}
        data-server=${sid} onClick=${() => navigate(`#/channels/${sid}`)}>
        ${initials(s.name)}
        ${unread > 0 && !mentions && html`<span class="dot" aria-hidden="true"></span>`}
        ${mentions > 0 && html`<span class="badge" aria-hidden="true">${mentions > 99 ? "99+" : mentions}</span>`}
      </button>`;
    })}
    <button class="rail-item add" aria-label="Create a server" title="Create a server" onClick=${createServer}>+</button>
    <button class=${"rail-item add" + (r.view === "browse" ? " active" : "")} aria-label="Browse public servers" title="Browse public servers" onClick=${() => navigate("#/browse")}>🧭</button>
    <button class="rail-item add" aria-label="Your settings" title="Settings" onClick=${() => openModal("settings")}>⚙</button>
  </nav>`;
}
