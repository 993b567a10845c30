// The home screen: what to do first (create, browse, or open a DM).

import { html } from "../html.js";
import { S } from "../store.js";
import { navigate } from "../actions.js";
import { createServer } from "./rail.js";
import { DrawerButton } from "./channel.js";

export function Home() {
  return html`<main class="main home-view" aria-label="Home">
    <header class="chan-head"><${DrawerButton} /><h1>Welcome, ${S.me.username}</h1></header>
    <div class="welcome">
      ${S.order.length === 0 ? html`<p>You are not in a server yet.</p>` : html`<p>Pick a server on the left, or a direct message.</p>`}
      <div class="row">
        <button class="primary" onClick=${createServer}>Create a server</button>
        <button onClick=${() => navigate("#/browse")}>Browse public servers</button>
      </div>
      <p class="hint">Got an invite link? Open it in this browser to join. <a href="/docs">API documentation</a></p>
    </div>
  </main>`;
}
