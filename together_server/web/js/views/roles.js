// Roles (create, order, permission bits with readable names, delete) and channel
// permission overrides (allow / inherit / deny per channel bit, for everyone, a role or a member).

import { html, useState } from "../html.js";
import { api } from "../api.js";
import { S } from "../store.js";
import { errText } from "../actions.js";
import { BITS, CHANNEL_BITS, can, owner, topPosition, P } from "../perms.js";

function RoleEditor({ sid, role, say, done }) {
  const [perms, setPerms] = useState(role ? role.permissions : 0);
  async function save(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { name: f.get("name"), permissions: perms, color: f.get("color_on") === "on" ? f.get("color") : "", position: Number(f.get("position")) };
    try {
      if (role) await api("PATCH", `/servers/${sid}/roles/${role.id}`, body);
      else await api("POST", `/servers/${sid}/roles`, body);
      say({ ok: role ? "Role saved." : "Role created." });
      done();
    } catch (ex) { say({ err: errText(ex) }); }
  }
  return html`<form class="form role-editor" onSubmit=${save} aria-label=${role ? "Edit role " + role.name : "New role"}>
    <label>Role name<input name="name" value=${role ? role.name : ""} maxlength="100" required /></label>
    <div class="row"><label class="check"><input type="checkbox" name="color_on" checked=${!!(role && role.color)} /> Colour</label>
      <input type="color" name="color" aria-label="Role colour" value=${(role && role.color) || "#5865f2"} />
      <label>Position (higher outranks lower)<input type="number" name="position" min="0" max="2147483647" value=${role ? role.position : 0} /></label></div>
    <fieldset><legend>Permissions</legend>
      ${BITS.map(([key, bit, label, what]) => html`<label class="check perm" title=${what}>
        <input type="checkbox" name=${key} checked=${(perms & bit) === bit} onChange=${(e) => setPerms(e.target.checked ? perms | bit : perms & ~bit)} />
        <span><strong>${label}</strong> <span class="hint">${what}</span></span></label>`)}
    </fieldset>
    <div class="row end"><button type="button" onClick=${done}>Cancel</button><button class="primary" type="submit">${role ? "Save role" : "Create role"}</button></div>
  </form>`;
}

export function Roles({ sid, say }) {
  const [editing, setEditing] = useState(null);
  const roles = S.roles[sid] || [];
  const manage = can(sid, P.MANAGE_ROLES);
  const top = owner(sid) ? Infinity : topPosition(sid);
  if (editing) return html`<${RoleEditor} sid=${sid} role=${editing === "new" ? null : editing} say=${say} done=${() => setEditing(null)} />`;
  const move = async (r, delta) => {
    try { await api("PATCH", `/servers/${sid}/roles/${r.id}`, { position: Math.max(0, r.position + delta) }); } catch (ex) { say({ err: errText(ex) }); }
  };
  const remove = async (r) => {
    if (!confirm(`Delete the role ${r.name}?`)) return;
    try { await api("DELETE", `/servers/${sid}/roles/${r.id}`); } catch (ex) { say({ err: errText(ex) }); }
  };
  return html`<div>
    ${manage && html`<div class="row"><button class="primary" onClick=${() => setEditing("new")}>Create role</button></div>`}
    <p class="hint">Every member has View channels, Send messages, Attach files, Add reactions, Connect and Speak; roles add to that. Use channel permissions to take bits away.</p>
    <ul class="rows" aria-label="Roles">
      ${roles.length === 0 && html`<li class="hint">No roles yet.</li>`}
      ${roles.map((r) => html`<li key=${r.id}>
        <span class="swatch" style=${r.color ? `background:${r.color}` : ""} aria-hidden="true"></span>
        <strong>${r.name}</strong> <span class="hint">position ${r.position} · ${BITS.filter(([, b]) => r.permissions & b).map((x) => x[2]).join(", ") || "no extra permissions"}</span>
        ${manage && r.position < top && html`<span class="row-tools">
          <button class="icon small" aria-label=${"Move " + r.name + " up"} onClick=${() => move(r, 1)}>▲</button>
          <button class="icon small" aria-label=${"Move " + r.name + " down"} onClick=${() => move(r, -1)}>▼</button>
          <button class="small" onClick=${() => setEditing(r)}>Edit</button>
          <button class="small danger" onClick=${() => remove(r)}>Delete</button></span>`}
      </li>`)}
    </ul>
  </div>`;
}

const CH_BITS = BITS.filter(([, b]) => (CHANNEL_BITS & b) === b);

function OverrideRow({ cid, o, label, say }) {
  async function set(bit, state) {
    let allow = o.allow & ~bit, deny = o.deny & ~bit;
    if (state === "allow") allow |= bit;
    if (state === "deny") deny |= bit;
    const body = { allow, deny, role_id: o.role_id || null, user_id: o.user_id || null };
    try { await api("PUT", `/channels/${cid}/overrides`, body); } catch (ex) { say({ err: errText(ex) }); }
  }
  const remove = async () => { try { await api("DELETE", `/channels/${cid}/overrides/${o.id}`); } catch (ex) { say({ err: errText(ex) }); } };
  return html`<fieldset class="override"><legend>${label}</legend>
    ${CH_BITS.map(([key, bit, name]) => {
      const st = o.allow & bit ? "allow" : o.deny & bit ? "deny" : "inherit";
      return html`<div class="tri" role="radiogroup" aria-label=${name + " for " + label}>
        <span class="tri-name">${name}</span>
        ${[["deny", "✕ Deny"], ["inherit", "/ Inherit"], ["allow", "✓ Allow"]].map(([v, t]) => html`<label class=${"tri-opt " + v + (st === v ? " on" : "")}>
          <input type="radio" name=${o.id + key} checked=${st === v} onChange=${() => set(bit, v)} />${t}</label>`)}
      </div>`;
    })}
    ${o.id && html`<button class="small danger" onClick=${remove}>Remove override</button>`}
  </fieldset>`;
}

export function Overrides({ sid, say }) {
  const chans = S.channels[sid] || [];
  const [cid, setCid] = useState(chans.length ? chans[0].id : null);
  const [target, setTarget] = useState("");
  if (!cid) return html`<p class="hint">No channels.</p>`;
  const list = S.overrides[cid] || [];
  const roles = S.roles[sid] || [];
  const labelOf = (o) => (o.role_id === sid ? "Everyone" : o.role_id ? "Role " + ((roles.find((r) => r.id === o.role_id) || {}).name || "?")
    : "Member " + (((S.members[sid] || []).find((m) => m.user_id === o.user_id) || {}).username || "?"));
  async function add() {
    if (!target) return;
    const [kind, id] = target.split(":");
    try { await api("PUT", `/channels/${cid}/overrides`, { allow: 0, deny: 0, role_id: kind === "role" ? id : null, user_id: kind === "user" ? id : null }); setTarget(""); }
    catch (ex) { say({ err: errText(ex) }); }
  }
  const taken = new Set(list.map((o) => (o.role_id ? "role:" + o.role_id : "user:" + o.user_id)));
  return html`<div>
    <label>Channel<select aria-label="Channel" onChange=${(e) => setCid(e.target.value)}>${chans.map((c) => html`<option value=${c.id} selected=${c.id === cid}>${c.type === "voice" ? "🔊" : "#"}${c.name}</option>`)}</select></label>
    <div class="row"><label>Add an override for<select aria-label="Add an override for" value=${target} onChange=${(e) => setTarget(e.target.value)}>
      <option value="">choose…</option>
      ${!taken.has("role:" + sid) && html`<option value=${"role:" + sid}>Everyone</option>`}
      ${roles.filter((r) => !taken.has("role:" + r.id)).map((r) => html`<option value=${"role:" + r.id}>Role ${r.name}</option>`)}
      ${(S.members[sid] || []).filter((m) => !taken.has("user:" + m.user_id)).map((m) => html`<option value=${"user:" + m.user_id}>Member ${m.username}</option>`)}
    </select></label><button onClick=${add}>Add</button></div>
    ${list.length === 0 && html`<p class="hint">No overrides: this channel uses the server permissions.</p>`}
    ${list.map((o) => html`<${OverrideRow} key=${o.id} cid=${cid} o=${o} label=${labelOf(o)} say=${say} />`)}
  </div>`;
}
