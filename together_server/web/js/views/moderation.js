// Server settings tabs for people: invites (create, copy link, revoke), members (kick, ban,
// timeout, roles), bans (list, unban).

import { html, useEffect, useState } from "../html.js";
import { api } from "../api.js";
import { S, changed } from "../store.js";
import { errText, inviteLink, copyText, loadMembers } from "../actions.js";
import { can, owner, topPosition, P } from "../perms.js";
import { full } from "../time.js";

export function Invites({ sid, say }) {
  const list = S.invites[sid];
  useEffect(() => { api("GET", `/servers/${sid}/invites`).then((l) => { S.invites[sid] = l; changed(); }, (e) => say({ err: errText(e) })); }, [sid]);
  async function create(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = {};
    if (f.get("max_uses")) body.max_uses = Number(f.get("max_uses"));
    if (f.get("hours")) body.expires_in_hours = Number(f.get("hours"));
    try { const inv = await api("POST", `/servers/${sid}/invites`, body); copyText(inviteLink(inv.code)); } catch (ex) { say({ err: errText(ex) }); }
  }
  const revoke = async (i) => { try { await api("DELETE", `/servers/${sid}/invites/${i.id}`); } catch (ex) { say({ err: errText(ex) }); } };
  return html`<div>
    <form class="row" onSubmit=${create} aria-label="New invite">
      <label>Max uses<input name="max_uses" type="number" min="1" placeholder="no limit" /></label>
      <label>Expires after (hours)<input name="hours" type="number" min="1" max="720" placeholder="never" /></label>
      <button class="primary" type="submit">Create and copy link</button>
    </form>
    <ul class="rows" aria-label="Invites">
      ${!list && html`<li>Loading…</li>`}
      ${list && list.length === 0 && html`<li class="hint">No invites.</li>`}
      ${(list || []).map((i) => html`<li key=${i.id}><code>${i.code}</code>
        <span class="hint">${i.uses}${i.max_uses ? "/" + i.max_uses : ""} uses${i.expires_at ? " · expires " + full(i.expires_at) : ""}</span>
        <span class="row-tools"><button class="small" onClick=${() => copyText(inviteLink(i.code))}>Copy link</button>
        ${(can(sid, P.MANAGE_SERVER) || (S.me && i.created_by === S.me.id)) && html`<button class="small danger" onClick=${() => revoke(i)}>Revoke</button>`}</span></li>`)}
    </ul>
  </div>`;
}

function rankOf(m) { return (m.roles || []).length ? Math.max(...m.roles.map((r) => r.position)) : -1; }

export function MembersAdmin({ sid, say }) {
  const [open, setOpen] = useState(null);
  useEffect(() => { if (!S.members[sid]) loadMembers(sid).catch(() => {}); }, [sid]);
  const list = S.members[sid] || [];
  const s = S.servers[sid];
  const mine = owner(sid) ? Infinity : topPosition(sid);
  const act = async (what, m, body) => {
    try { await api(what[0], what[1], body); say({ ok: "Done." }); } catch (ex) { say({ err: errText(ex) }); }
  };
  const base = (m) => `/servers/${sid}/members/${m.user_id}`;
  const roles = S.roles[sid] || [];
  return html`<ul class="rows" aria-label="Members">
    ${list.map((m) => {
      const target = m.user_id !== S.me.id && m.user_id !== s.owner_id && rankOf(m) < mine;
      return html`<li key=${m.user_id} class="member-admin"><strong>${m.username}</strong>
        ${m.timed_out_until && Date.parse(m.timed_out_until) > Date.now() && html`<span class="tag">timed out until ${full(m.timed_out_until)}</span>`}
        <span class="hint">${(m.roles || []).map((r) => r.name).join(", ")}</span>
        <span class="row-tools">
          ${can(sid, P.MANAGE_ROLES) && roles.length > 0 && html`<button class="small" aria-expanded=${open === m.user_id ? "true" : "false"} onClick=${() => setOpen(open === m.user_id ? null : m.user_id)}>Roles</button>`}
          ${target && can(sid, P.MUTE_MEMBERS) && html`<button class="small" onClick=${() => { const n = prompt("Time out for how many minutes?", "10"); if (n) act(["POST", base(m) + "/timeout"], m, { duration_minutes: Number(n) }); }}>Time out</button>`}
          ${target && can(sid, P.MUTE_MEMBERS) && m.timed_out_until && html`<button class="small" onClick=${() => act(["DELETE", base(m) + "/timeout"], m)}>End timeout</button>`}
          ${target && can(sid, P.KICK_MEMBERS) && html`<button class="small danger" onClick=${() => confirm(`Kick ${m.username}?`) && act(["POST", base(m) + "/kick"], m, {})}>Kick</button>`}
          ${target && can(sid, P.BAN_MEMBERS) && html`<button class="small danger" onClick=${() => confirm(`Ban ${m.username}?`) && act(["POST", base(m) + "/ban"], m, {})}>Ban</button>`}
        </span>
        ${open === m.user_id && html`<div class="role-picks">${roles.map((r) => {
          const has = (m.roles || []).some((x) => x.id === r.id);
          return html`<label class="check"><input type="checkbox" checked=${has} disabled=${r.position >= mine}
            onChange=${() => act([has ? "DELETE" : "PUT", `${base(m)}/roles/${r.id}`], m)} /> ${r.name}</label>`;
        })}</div>`}
      </li>`;
    })}
  </ul>`;
}

export function Bans({ sid, say }) {
  const [list, setList] = useState(null);
  const load = () => api("GET", `/servers/${sid}/bans`).then(setList, (e) => say({ err: errText(e) }));
  useEffect(() => { load(); }, [sid]);
  const unban = async (b) => { try { await api("DELETE", `/servers/${sid}/bans/${b.user_id}`); load(); } catch (ex) { say({ err: errText(ex) }); } };
  return html`<ul class="rows" aria-label="Bans">
    ${list === null && html`<li>Loading…</li>`}
    ${list && list.length === 0 && html`<li class="hint">Nobody is banned.</li>`}
    ${(list || []).map((b) => html`<li key=${b.user_id}><strong>${(S.users[b.user_id] || {}).username || b.user_id}</strong>
      <span class="hint">${b.reason || ""} · ${full(b.created_at)}</span>
      <span class="row-tools"><button class="small" onClick=${() => unban(b)}>Unban</button></span></li>`)}
  </ul>`;
}
