// Voice channel view: PLACEHOLDER, replaced by the voice work of issue 14 ("lan" helper).
// Mount point: ChannelView renders <VoiceView channel=${Channel} server=${Server} /> above
// the messages of a voice channel. Useful imports: S (store.js: S.voice[server_id] is the
// list of VoiceStates, kept live), onDispatch (events.js: watch VOICE_SIGNAL /
// VOICE_STATE_UPDATE), live.gateway.send({op: "VOICE_SIGNAL", d}) (store.js), api (api.js).

import { html } from "./html.js";
import { S } from "./store.js";

export function VoiceView({ channel, server }) {
  const here = (S.voice[server.id] || []).filter((v) => v.channel_id === channel.id);
  return html`<div class="voice-panel" aria-label="Voice">
    <p>Voice channel. ${here.length ? `In the channel: ${here.map((v) => v.username).join(", ")}` : "Nobody is here yet."}</p>
  </div>`;
}
