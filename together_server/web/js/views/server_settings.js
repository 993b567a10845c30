// Server settings, one tab per concern, each shown to those allowed: overview, roles,
// channel permission overrides, invites, members, bans, bots.

import { html, useState } from "../html.js";
import { api } from "../api.js";
import { S, changed } from "../store.js";
import { navigate, errText } from "../actions.js";
import { can, owner, P } from "../perms.js";
import { Dialog, closeModal } from "./modal.js";
import { Roles, Overrides } from "./roles.js";
import { Invites, MembersAdmin, Bans } from "./moderation.js";
import { Bots } from "./bots.js";
import { day } from "../time.js";

function Overview({ sid, say }) {
  const s = S.servers[sid];
  const edit = owner(sid) || can(sid, P.MANAGE_SERVER);
  async function save(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      S.servers[sid] = await api("PATCH", `/servers/${sid}`, { name: f.get("name"), is_public: f.get("is_public") === "on", require_invite: f.get("require_invite") === "on" });
      changed();
      say({ ok: "Saved." });
    } catch (ex) { say({ err: errText(ex) }); }
  }
  async function remove() {
    if (!confirm(`Delete ${s.name} with all its channels and messages? This cannot be undone.`)) return;
    try { await api("DELETE", `/servers/${sid}`); closeModal(); navigate("#/"); } catch (ex) { say({ err: errText(ex) }); }
  }
  return html`<form class="form" onSubmit=${save} aria-label="Overview">
    <label>Server name<input name="name" value=${s.name} maxlength="100" required disabled=${!edit} /></label>
    <label class="check"><input type="checkbox" name="is_public" checked=${s.is_public} disabled=${!edit} /> Public: listed in Browse servers</label>
    <label class="check"><input type="checkbox" name="require_invite" checked=${s.require_invite} disabled=${!edit} /> Joining needs an invite even when public</label>
    <p class="hint">${s.member_count} members · created ${day(s.created_at)}</p>
    ${edit && html`<div class="row end"><button class="primary" type="submit">Save</button></div>`}
    ${owner(sid) && html`<div class="row"><button type="button" class="danger" onClick=${remove}>Delete server</button></div>`}
  </form>`;
}

export function ServerSettings({ sid }) {
  const [tab, setTab] = useState("overview");
  const [msg, setMsg] = useState(null);
  const s = S.servers[sid];
  if (!s) return null;
  const tabs = [
    ["overview", "Overview", true],
    ["roles", "Roles", can(sid, P.MANAGE_ROLES) || true],
    ["channels", "Channel permissions", can(sid, P.MANAGE_CHANNELS)],
    ["invites", "Invites", can(sid, P.CREATE_INVITES)],
    ["members", "Members", true],
    ["bans", "Bans", can(sid, P.BAN_MEMBERS)],
    ["bots", "Your bots", true],
  ].filter((t) => t[2]);
  const say = (m) => setMsg(m);
  const body = {
    overview: html`<${Overview} sid=${sid} say=${say} />`,
    roles: html`<${Roles} sid=${sid} say=${say} />`,
    channels: html`<${Overrides} sid=${sid} say=${say} />`,
    invites: html`<${Invites} sid=${sid} say=${say} />`,
    members: html`<${MembersAdmin} sid=${sid} say=${say} />`,
    bans: html`<${Bans} sid=${sid} say=${say} />`,
    bots: html`<${Bots} sid=${sid} say=${say} />`,
  }[tab];
  return html`<${Dialog} title=${"Server settings: " + s.name} wide=${true}>
    <div class="tabs" role="tablist" aria-label="Server settings sections">
      ${tabs.map(([k, label]) => html`<button role="tab" aria-selected=${tab === k ? "true" : "false"} class=${tab === k ? "on" : ""}
        onClick=${() => { setTab(k); setMsg(null); }}>${label}</button>`)}
    </div>
    ${msg && html`<p class=${msg.err ? "error" : "ok"} role="status">${msg.err || msg.ok}</p>`}
    <div role="tabpanel" aria-label=${tabs.find((t) => t[0] === tab)[1]}>${body}</div>
  <//>`;
}
