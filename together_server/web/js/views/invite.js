// #/invite/<code>: a preview of the server and a button to join.

import { html, useEffect, useState } from "../html.js";
import { api } from "../api.js";
import { S } from "../store.js";
import { navigate } from "../actions.js";
import { full } from "../time.js";

export function InviteView({ code }) {
  const [preview, setPreview] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => { api("GET", `/invites/${encodeURIComponent(code)}`).then(setPreview, (e) => setErr(e.message)); }, [code]);
  async function accept() {
    try {
      const r = await api("POST", `/invites/${encodeURIComponent(code)}/accept`);
      navigate(`#/channels/${r.server_id}`);
    } catch (e) {
      if (e.code === "already_member" && preview) navigate(`#/channels/${preview.server_id}`);
      else setErr(e.message);
    }
  }
  const member = preview && S.servers[preview.server_id];
  return html`<main class="main center" aria-label="Invite">
    <div class="card">
      ${err && html`<p class="error" role="alert">${err}</p>`}
      ${!preview && !err && html`<p>Loading invite…</p>`}
      ${preview && html`<h1>You are invited to <span dir="auto">${preview.server_name}</span></h1>
        <p>${preview.member_count} member${preview.member_count === 1 ? "" : "s"}${preview.expires_at ? " · expires " + full(preview.expires_at) : ""}</p>
        ${member ? html`<button class="primary" onClick=${() => navigate(`#/channels/${preview.server_id}`)}>Open server</button>`
          : html`<button class="primary" onClick=${accept}>Accept invite</button>`}`}
      <p><a href="#/">Back</a></p>
    </div>
  </main>`;
}
