// The member list, grouped online / offline, with presence dots; a member opens a DM.

import { html } from "../html.js";
import { S } from "../store.js";
import { openDm, fail } from "../actions.js";

const LABEL = { online: "online", away: "away", dnd: "do not disturb", offline: "offline" };

export function Presence({ uid, status }) {
  const st = status || S.presence[uid] || "offline";
  return html`<span class=${"presence " + st} role="img" aria-label=${LABEL[st] || st} title=${LABEL[st] || st}></span>`;
}

function Member({ m, sid }) {
  const me = S.me && m.user_id === S.me.id;
  const top = (m.roles || [])[0];
  return html`<li class="member" data-member=${m.username}>
    <${Presence} uid=${m.user_id} status=${m.status} />
    <span class="name" style=${top && top.color ? `color:${top.color}` : ""}>${m.username}</span>
    ${m.is_bot && html`<span class="tag">BOT</span>`}
    ${m.custom_status && html`<span class="custom" dir="auto">${m.custom_status}</span>`}
    ${!me && html`<button class="icon small" aria-label=${"Message " + m.username} title="Send a direct message"
      onClick=${() => openDm(m.user_id).catch(fail)}>✉</button>`}
  </li>`;
}

export function Members({ sid }) {
  const list = S.members[sid];
  if (!list) return html`<aside class="members" aria-label="Members"><p class="hint">Loading members…</p></aside>`;
  const on = [], off = [];
  for (const m of list) ((S.presence[m.user_id] || m.status) === "offline" ? off : on).push(m);
  const by = (a, b) => a.username.localeCompare(b.username);
  return html`<aside class="members" aria-label="Members">
    <h3>Online — ${on.length}</h3>
    <ul aria-label="Online members">${on.sort(by).map((m) => html`<${Member} key=${m.user_id} m=${m} sid=${sid} />`)}</ul>
    <h3>Offline — ${off.length}</h3>
    <ul aria-label="Offline members">${off.sort(by).map((m) => html`<${Member} key=${m.user_id} m=${m} sid=${sid} />`)}</ul>
  </aside>`;
}
