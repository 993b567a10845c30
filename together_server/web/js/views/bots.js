// Your bots: create (the token is shown once, with a copy button), rename, regenerate, revoke.

import { html, useEffect, useState } from "../html.js";
import { api } from "../api.js";
import { errText, copyText } from "../actions.js";
import { can, P } from "../perms.js";

export function Bots({ sid, say }) {
  const [list, setList] = useState(null);
  const [token, setToken] = useState(null);
  const load = () => api("GET", "/bots").then((r) => setList(r.bots), (e) => say({ err: errText(e) }));
  useEffect(() => { load(); }, []);
  async function create(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const r = await api("POST", "/bots", { name: f.get("name"), description: f.get("description") || null });
      setToken({ name: r.bot.name, token: r.token });
      e.target.reset();
      load();
    } catch (ex) { say({ err: errText(ex) }); }
  }
  const regen = async (b) => {
    if (!confirm(`Regenerate the token of ${b.name}? The old token stops working at once.`)) return;
    try { const r = await api("POST", `/bots/${b.id}/token/regenerate`); setToken({ name: b.name, token: r.token }); } catch (ex) { say({ err: errText(ex) }); }
  };
  const revoke = async (b) => {
    if (!confirm(`Revoke ${b.name} for good?`)) return;
    try { await api("DELETE", `/bots/${b.id}`); load(); } catch (ex) { say({ err: errText(ex) }); }
  };
  const invite = async () => {
    try { const inv = await api("POST", `/servers/${sid}/invites`, {}); copyText(inv.code); } catch (ex) { say({ err: errText(ex) }); }
  };
  return html`<div>
    ${token && html`<div class="token-once" role="alert">
      <p><strong>Token for ${token.name}</strong>: shown only this once. Keep it secret.</p>
      <code class="token">${token.token}</code>
      <div class="row"><button class="primary" onClick=${() => copyText(token.token)}>Copy token</button><button onClick=${() => setToken(null)}>I saved it</button></div>
    </div>`}
    <form class="row" onSubmit=${create} aria-label="New bot">
      <label>Bot name<input name="name" maxlength="64" required /></label>
      <label>Description<input name="description" maxlength="512" /></label>
      <button class="primary" type="submit">Create bot</button>
    </form>
    ${can(sid, P.CREATE_INVITES) && html`<p class="hint">To add a bot here, give it an invite code: <button class="link" onClick=${invite}>copy a new invite code</button> (the bot calls <code>POST /invites/:code/accept</code>).</p>`}
    <ul class="rows" aria-label="Bots">
      ${list === null && html`<li>Loading…</li>`}
      ${list && list.length === 0 && html`<li class="hint">You have no bots.</li>`}
      ${(list || []).map((b) => html`<li key=${b.id}><strong>${b.name}</strong> <span class="hint">${b.description || ""}${b.revoked_at ? " · revoked" : ""}</span>
        ${!b.revoked_at && html`<span class="row-tools"><button class="small" onClick=${() => regen(b)}>Regenerate token</button>
          <button class="small danger" onClick=${() => revoke(b)}>Revoke</button></span>`}</li>`)}
    </ul>
  </div>`;
}
