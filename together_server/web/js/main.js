// Entry point: the hash router (deep links survive a reload), the gateway, the app shell.
// Routes: #/  #/channels/<server>[/<channel>[/<message>]]  #/dm/<dm>  #/invite/<code>
//         #/browse

import { html, render, useEffect, useState } from "./html.js";
import * as auth from "./api.js";
import { Gateway } from "./gateway.js";
import { S, changed, subscribe, live } from "./store.js";
import { dispatch } from "./events.js";
import { updateTitle } from "./notify.js";
import { Login } from "./views/login.js";
import { Rail } from "./views/rail.js";
import { Sidebar } from "./views/sidebar.js";
import { ChannelView } from "./views/channel.js";
import { Home } from "./views/home.js";
import { InviteView } from "./views/invite.js";
import { Browse } from "./views/browse.js";
import { Modals } from "./views/modal.js";

let gateway = null;

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "channels" && parts[1]) return { view: "server", sid: parts[1], cid: parts[2] || null, mid: parts[3] || null };
  if (parts[0] === "dm" && parts[1]) return { view: "dm", cid: parts[1] };
  if (parts[0] === "invite" && parts[1]) return { view: "invite", code: parts[1] };
  if (parts[0] === "browse") return { view: "browse" };
  return { view: "home" };
}

function onRoute() {
  const r = parseRoute();
  if (r.view === "server" && !r.cid && S.servers[r.sid]) {
    // the last channel seen in that server, else its first text channel
    const last = localStorage.getItem("together.last." + r.sid);
    const list = S.channels[r.sid] || [];
    const pick = list.find((c) => c.id === last) || list.find((c) => c.type === "text") || list[0];
    if (pick) { location.replace(`#/channels/${r.sid}/${pick.id}`); return; }
  }
  if (r.view === "server" && r.cid) localStorage.setItem("together.last." + r.sid, r.cid);
  S.route = r;
  S.drawer = false;
  changed();
}

function startGateway() {
  if (gateway) gateway.stop();
  S.conn = "connecting";
  gateway = new Gateway((t, d) => {
    dispatch(t, d);
    // a server link opened before its server (or first channel) arrived: resolve it now
    if (t === "READY" || (S.route.view === "server" && !S.route.cid)) onRoute();
  }, (st) => { S.conn = st; changed(); });
  live.gateway = gateway;
  gateway.connect();
}

function ConnBanner() {
  if (S.conn === "ready" || S.conn === "stopped") return null;
  const text = S.conn === "connecting" ? "Connecting…" : "Reconnecting… messages will catch up when the connection is back.";
  return html`<div class="conn" role="status" aria-live="polite" data-state=${S.conn}>${text}</div>`;
}

function Toast() {
  if (!S.toast) return null;
  return html`<div class="toast" role="alert">${S.toast.text}</div>`;
}

function Main() {
  const r = S.route;
  if (r.view === "invite") return html`<${InviteView} code=${r.code} />`;
  if (r.view === "browse") return html`<${Browse} />`;
  if (r.view === "server" && r.cid) return html`<${ChannelView} key=${r.cid} sid=${r.sid} cid=${r.cid} mid=${r.mid} />`;
  if (r.view === "dm") return html`<${ChannelView} key=${r.cid} cid=${r.cid} dm=${true} />`;
  return html`<${Home} />`;
}

function App() {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => { setTick((n) => n + 1); updateTitle(); }), []);
  if (!auth.signedIn()) return html`<${Login} message=${S.authMessage} />`;
  if (!S.me) {
    return html`<div class="app-loading" role="status">${S.conn === "reconnecting" ? "Cannot reach the server, retrying…" : "Connecting…"}</div>`;
  }
  return html`<div class=${"app" + (S.drawer ? " drawer-open" : "")}>
    <${Rail} />
    <${Sidebar} />
    <${Main} />
    <${ConnBanner} />
    <${Modals} />
    <${Toast} />
  </div>`;
}

auth.on("loggedOut", (message) => {
  if (gateway) { gateway.stop(); gateway = null; live.gateway = null; }
  S.me = null;
  S.msgs = {};
  S.authMessage = message || "";
  changed();
});
auth.on("user", () => { if (!gateway) startGateway(); });

document.documentElement.dataset.theme = localStorage.getItem("together.theme") || "system";
window.addEventListener("hashchange", onRoute);
document.addEventListener("visibilitychange", changed);
S.route = parseRoute();
if (auth.signedIn()) startGateway();
const root = document.getElementById("app");
root.replaceChildren(); // the "Loading Together…" placeholder goes before the first render
render(html`<${App} />`, root);
