// "Invite people on this network" dialog (issue 14), opened from the server header
// (openModal("lan", {sid})). It makes an invite, then shows the invite link on each address
// the server announces in LAN mode (GET /instance/lan), a QR code of the chosen one
// (GET /instance/lan/qr.svg, so a phone joins by scanning), and where a new device learns to
// trust the server's certificate. Without LAN mode it shows this page's own invite link.

import { html, useEffect, useState } from "./html.js";
import { api } from "./api.js";
import { copyText, inviteLink } from "./actions.js";
import { Dialog } from "./views/modal.js";

function qrSrc(text) { return `/instance/lan/qr.svg?text=${encodeURIComponent(text)}`; }

export function LanInvite({ sid }) {
  const [code, setCode] = useState(null);
  const [info, setInfo] = useState(null);
  const [pick, setPick] = useState(0);
  const [error, setError] = useState(null);
  useEffect(() => {
    api("POST", `/servers/${sid}/invites`, {}).then((inv) => setCode(inv.code), (e) => setError(e.message));
    fetch("/instance/lan").then((r) => r.json()).then(setInfo, () => setInfo({ lan: false, urls: [] }));
  }, [sid]);
  const lan = info && info.lan && info.urls.length > 0;
  const links = code === null ? [] : lan
    ? info.urls.map((u) => `${u.replace(/\/$/, "")}/#/invite/${code}`)
    : [inviteLink(code)];
  const chosen = links[Math.min(pick, links.length - 1)];
  return html`<${Dialog} title="Invite people on this network">
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!error && (code === null || info === null) && html`<p>Making an invite…</p>`}
    ${links.length > 0 && info !== null && html`<div class="lan-invite">
      <p>${lan ? "People on this network can open any of these addresses (or scan the code):"
        : "People can open this link:"}</p>
      <ul class="lan-links">${links.map((l, i) => html`<li key=${l}>
        <label><input type="radio" name="lan-link" checked=${l === chosen} onChange=${() => setPick(i)} />
          <code class="lan-url">${l}</code></label>
        <button class="small" aria-label=${`Copy ${l}`} onClick=${() => copyText(l)}>Copy</button></li>`)}</ul>
      <img class="lan-qr" src=${qrSrc(chosen)} alt=${`QR code of ${chosen}`} width="220" height="220" />
      ${lan && info.trust_url && html`<p class="lan-trust">First time on a device? Trust the server's certificate once:
        open <a href=${info.trust_url} target="_blank" rel="noopener noreferrer">${info.trust_url}</a> and follow the
        steps for that device. Its fingerprint is <code class="fp">${info.ca_sha256}</code>.</p>`}
      ${!lan && html`<p class="muted">For a LAN party, the host runs <code>together-server serve --lan</code>: it
        serves HTTPS (so browsers allow the microphone for voice), announces itself on the network and lists
        every address here.</p>`}
    </div>`}
  <//>`;
}
