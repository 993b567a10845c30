// One channel (or DM) on screen: header, messages, composer, and a side panel
// (members, search results or pinned messages). Voice channels add the voice view.

import { html, useEffect, useState } from "../html.js";
import { S, changed, channelById, dmById, bucket } from "../store.js";
import { loadLatest, loadAround, loadMembers, fail } from "../actions.js";
import { MessageList } from "./messages.js";
import { Composer } from "./composer.js";
import { Members } from "./members.js";
import { SearchBox, SearchResults } from "./search.js";
import { Pins } from "./pins.js";
import { VoiceView } from "../voice.js";

export function DrawerButton() {
  return html`<button class="icon drawer-btn" aria-label="Open navigation" aria-expanded=${S.drawer ? "true" : "false"}
    onClick=${() => { S.drawer = !S.drawer; changed(); }}>☰</button>`;
}

export function ChannelView({ sid, cid, mid, dm }) {
  const [panel, setPanel] = useState(() => (window.innerWidth > 900 && !dm ? "members" : null));
  const ch = dm ? null : channelById(cid);
  const d = dm ? dmById(cid) : null;
  useEffect(() => {
    const b = bucket(cid);
    if (mid) loadAround(cid, mid).then((found) => { S.jump = found ? mid : null; changed(); }).catch(fail);
    else if (!b.loaded || b.hasNewer) loadLatest(cid).catch(fail);
  }, [cid, mid]);
  useEffect(() => { if (sid && S.servers[sid] && !S.members[sid]) loadMembers(sid).catch(fail); }, [sid]);
  useEffect(() => { if (S.search && S.search.sid !== sid) S.search = null; }, [sid]);

  if (!dm && !ch) {
    return html`<main class="main center"><p>${S.servers[sid] ? "This channel does not exist or you cannot see it." : "You are not a member of this server."}</p>
      <p><a href="#/">Home</a></p></main>`;
  }
  if (dm && !d) return html`<main class="main center"><p>Unknown conversation.</p></main>`;
  const title = dm ? d.recipient.username : ch.name;
  const toggle = (p) => setPanel(panel === p ? null : p);
  const side = S.search && S.search.sid === sid && panel === "search" ? html`<${SearchResults} sid=${sid} />`
    : panel === "pins" && !dm ? html`<${Pins} cid=${cid} />`
      : panel === "members" && !dm ? html`<${Members} sid=${sid} />` : null;
  return html`<main class=${"main" + (side ? " with-panel" : "")} aria-label=${(dm ? "Conversation with " : "Channel ") + title}>
    <header class="chan-head">
      <${DrawerButton} />
      <h1 dir="auto"><span aria-hidden="true">${dm ? "@" : ch.type === "voice" ? "🔊" : "#"}</span>${title}</h1>
      ${ch && ch.topic && html`<span class="topic" dir="auto">${ch.topic}</span>`}
      <span class="spacer"></span>
      ${!dm && html`<${SearchBox} sid=${sid} onSearch=${() => setPanel("search")} />`}
      ${!dm && html`<button class=${"icon" + (panel === "pins" ? " on" : "")} aria-label="Pinned messages" aria-pressed=${panel === "pins" ? "true" : "false"} title="Pinned messages" onClick=${() => toggle("pins")}>📌</button>`}
      ${!dm && html`<button class=${"icon" + (panel === "members" ? " on" : "")} aria-label="Member list" aria-pressed=${panel === "members" ? "true" : "false"} title="Members" onClick=${() => toggle("members")}>👥</button>`}
    </header>
    <div class="chan-body">
      <section class="chat">
        ${ch && ch.type === "voice" && html`<${VoiceView} channel=${ch} server=${S.servers[sid]} />`}
        <${MessageList} cid=${cid} sid=${sid} dm=${!!dm} />
        <${Composer} cid=${cid} sid=${sid} dm=${!!dm} name=${title} />
      </section>
      ${side}
    </div>
  </main>`;
}
