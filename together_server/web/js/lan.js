// "Invite people on this network" dialog: PLACEHOLDER, replaced by the LAN work of issue 14
// ("lan" helper). Opened from the server header (openModal("lan", {sid})); props: {sid}.

import { html, useEffect, useState } from "./html.js";
import { api } from "./api.js";
import { inviteLink } from "./actions.js";
import { Dialog } from "./views/modal.js";

export function LanInvite({ sid }) {
  const [link, setLink] = useState(null);
  useEffect(() => { api("POST", `/servers/${sid}/invites`, {}).then((inv) => setLink(inviteLink(inv.code)), () => setLink("")); }, [sid]);
  return html`<${Dialog} title="Invite people on this network">
    <p>People on this network can open this link:</p>
    <p><code>${link === null ? "…" : link}</code></p>
  <//>`;
}
