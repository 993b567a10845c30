// The column beside the rail: a server's channels (text and voice, with unread counts and
// create / rename / delete where permitted), or the DM list on the home screen.

import { html } from "../html.js";
import { api } from "../api.js";
import { S, nameOf, changed } from "../store.js";
import { navigate, fail, inviteLink, copyText } from "../actions.js";
import { can, owner, P } from "../perms.js";
import { openModal } from "./modal.js";
import { Presence } from "./members.js";

function closeDrawer() { if (S.drawer) { S.drawer = false; changed(); } }

function Count({ cid }) {
  const m = S.mentions[cid] || 0, u = S.unread[cid] || 0;
  if (m) return html`<span class="badge" aria-label=${m + " mentions"}>${m}</span>`;
  if (u) return html`<span class="dot" aria-label="unread"></span>`;
  return null;
}

export function createChannel(sid) {
  openModal("prompt", {
    title: "Create a channel", submit: "Create",
    fields: [{ name: "name", label: "Name", required: true, max: 100 },
      { name: "type", label: "Type", type: "select", value: "text", options: [["text", "Text"], ["voice", "Voice"]] }],
    onSubmit: async (v) => {
      const c = await api("POST", `/servers/${sid}/channels`, { name: v.name, type: v.type });
      navigate(`#/channels/${sid}/${c.id}`);
    },
  });
}

function renameChannel(c) {
  openModal("prompt", {
    title: `Edit #${c.name}`,
    fields: [{ name: "name", label: "Name", value: c.name, required: true, max: 100 },
      { name: "topic", label: "Topic", value: c.topic || "", max: 1024 }],
    onSubmit: (v) => api("PATCH", `/channels/${c.id}`, { name: v.name, topic: v.topic }),
  });
}

function deleteChannel(c) {
  openModal("prompt", {
    title: `Delete #${c.name}?`, submit: "Delete", danger: true,
    text: "Its messages are deleted too. This cannot be undone.",
    onSubmit: () => api("DELETE", `/channels/${c.id}`),
  });
}

export async function inviteDialog(sid) {
  try {
    const inv = await api("POST", `/servers/${sid}/invites`, {});
    openModal("prompt", {
      title: "Invite people", submit: "Copy link",
      fields: [{ name: "link", label: "Share this link", value: inviteLink(inv.code) }],
      onSubmit: () => copyText(inviteLink(inv.code)),
    });
  } catch (e) { fail(e); }
}

function ServerHeader({ sid }) {
  const s = S.servers[sid];
  const leave = () => openModal("prompt", {
    title: `Leave ${s.name}?`, submit: "Leave", danger: true,
    onSubmit: async () => { await api("DELETE", `/servers/${sid}/leave`); navigate("#/"); },
  });
  return html`<header class="side-head">
    <h2 title=${s.name} dir="auto">${s.name}</h2>
    <div class="side-actions">
      ${can(sid, P.CREATE_INVITES) && html`<button class="icon" aria-label="Invite people" title="Invite people" onClick=${() => inviteDialog(sid)}>👥</button>`}
      ${can(sid, P.CREATE_INVITES) && html`<button class="icon" aria-label="Invite people on this network" title="Invite people on this network" onClick=${() => openModal("lan", { sid })}>📡</button>`}
      <button class="icon" aria-label="Server settings" title="Server settings" onClick=${() => openModal("serverSettings", { sid })}>⚙</button>
      ${!owner(sid) && html`<button class="icon" aria-label="Leave server" title="Leave server" onClick=${leave}>⎋</button>`}
    </div>
  </header>`;
}

function ChannelList({ sid }) {
  const list = S.channels[sid] || [];
  const manage = (c) => can(sid, P.MANAGE_CHANNELS, c.id);
  const voice = S.voice[sid] || [];
  const group = (type, label) => html`<div class="group">
    <div class="group-head"><span>${label}</span>
      ${type === "text" && can(sid, P.MANAGE_CHANNELS) && html`<button class="icon small" aria-label="Create a channel" title="Create a channel" onClick=${() => createChannel(sid)}>+</button>`}
    </div>
    <ul aria-label=${label}>
      ${list.filter((c) => c.type === type).map((c) => html`<li key=${c.id} class=${"chan" + (S.route.cid === c.id ? " active" : "") + (S.unread[c.id] ? " unread" : "")}>
        <a href=${`#/channels/${sid}/${c.id}`} aria-current=${S.route.cid === c.id ? "page" : null} data-channel=${c.name} onClick=${closeDrawer}>
          <span aria-hidden="true">${type === "voice" ? "🔊" : "#"}</span><span class="name" dir="auto">${c.name}</span><${Count} cid=${c.id} /></a>
        ${manage(c) && html`<span class="chan-tools">
          <button class="icon small" aria-label=${"Edit channel " + c.name} onClick=${() => renameChannel(c)}>✎</button>
          <button class="icon small" aria-label=${"Delete channel " + c.name} onClick=${() => deleteChannel(c)}>🗑</button></span>`}
        ${type === "voice" && voice.filter((v) => v.channel_id === c.id).map((v) => html`<div class="voice-user" key=${v.user_id}>${v.username || nameOf(v.user_id)}</div>`)}
      </li>`)}
    </ul>
  </div>`;
  return html`<div class="channels">${group("text", "Text channels")}${group("voice", "Voice channels")}</div>`;
}

function DmList() {
  return html`<div class="channels">
    <div class="group"><div class="group-head"><span>Direct messages</span></div>
    <ul aria-label="Direct messages">
      ${S.dms.length === 0 && html`<li class="hint">Open a DM from a member of a server.</li>`}
      ${S.dms.map((d) => html`<li key=${d.id} class=${"chan" + (S.route.cid === d.id ? " active" : "")}>
        <a href=${`#/dm/${d.id}`} data-dm=${d.recipient.username} onClick=${closeDrawer}>
          <${Presence} uid=${d.recipient.id} /><span class="name">${d.recipient.username}</span><${Count} cid=${d.id} /></a>
      </li>`)}
    </ul></div>
  </div>`;
}

function Me() {
  if (!S.me) return null;
  return html`<footer class="me-panel">
    <${Presence} uid=${S.me.id} status=${S.me.chosen_status || S.me.status} />
    <span class="name">${S.me.username}</span>
    <button class="icon" aria-label="Your settings" onClick=${() => openModal("settings")}>⚙</button>
  </footer>`;
}

export function Sidebar() {
  const r = S.route;
  const sid = r.view === "server" && S.servers[r.sid] ? r.sid : null;
  return html`<aside class="sidebar" aria-label=${sid ? "Channels" : "Direct messages"}>
    ${sid ? html`<${ServerHeader} sid=${sid} /><${ChannelList} sid=${sid} />` : html`<header class="side-head"><h2>Home</h2></header><${DmList} />`}
    <${Me} />
  </aside>`;
}
