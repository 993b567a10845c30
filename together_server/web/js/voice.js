// Voice channels (issues 11 and 14): join/leave, mute/deafen, who is here with a speaking
// indicator, camera and screen share. Media flows browser to browser over WebRTC, a full
// mesh: one RTCPeerConnection per other participant, ICE servers from GET /ice-servers
// (empty on a LAN: host candidates connect directly), offers/answers/candidates relayed by
// the gateway's VOICE_SIGNAL (API.md §4.6, §6.3). The joiner offers to everyone already in
// the channel; later changes (camera, screen) renegotiate with the "perfect negotiation"
// pattern (the peer with the larger user id is the polite one). Mute detaches the
// microphone from every sender (no audio packets at all), deafen silences every peer.
// Audio elements live outside the view, so voice keeps playing while you read other channels.

import { html, useEffect, useRef } from "./html.js";
import { S, changed, live, nameOf } from "./store.js";
import { api } from "./api.js";
import { onDispatch } from "./events.js";

const LEVEL_THRESHOLD = 0.015;  // RMS of a 0..1 signal above which someone is speaking

/** The one voice connection of this tab. */
export const V = {
  cid: null, sid: null, joining: null,
  local: null,          // MediaStream of the microphone (null: listen only)
  camera: null, screen: null,
  muted: false, deafened: false,
  peers: new Map(),     // user id -> Peer
  speaking: new Set(),  // user ids speaking now (levels measured here)
  notice: null,         // "insecure" | "denied" | "nomic" | null
  error: null,
  iceServers: [],
  clickAt: 0,           // Date.now() of the last join click (tests measure join -> audio)
};

let audioCtx = null;
let meters = new Map();  // user id -> {analyser, buf}
let meterTimer = null;
let sink = null;         // hidden container of <audio> elements

function me() { return S.me && S.me.id; }
function sinkEl() {
  if (!sink) {
    sink = document.createElement("div");
    sink.hidden = true;
    sink.className = "voice-sink";
    document.body.appendChild(sink);
  }
  return sink;
}

function signal(to, d) {
  const gw = live.gateway;
  if (gw) gw.send({ op: "VOICE_SIGNAL", d: { to_user_id: to, ...d } });
}

function micTrack() { return V.local ? V.local.getAudioTracks()[0] || null : null; }

// ---------------------------------------------------------------- peers

function newPeer(uid) {
  const pc = new RTCPeerConnection({ iceServers: V.iceServers });
  const p = { uid, pc, polite: me() > uid, makingOffer: false, ignoreOffer: false, chain: Promise.resolve(),
    audioSender: null, videoSenders: new Map(), audio: null, videos: new Map(), state: "new", nextType: null };
  pc.onicecandidate = ({ candidate }) => {
    if (candidate) {
      signal(uid, { type: "candidate", candidate: candidate.candidate, sdp_mid: candidate.sdpMid ?? null,
        sdp_mline_index: candidate.sdpMLineIndex ?? null });
    }
  };
  pc.onnegotiationneeded = async () => {
    try {
      p.makingOffer = true;
      await pc.setLocalDescription();
      signal(uid, { type: "offer", sdp: pc.localDescription.sdp, stream_type: p.nextType || undefined });
    } catch (e) { console.warn("voice: offer", e); } finally { p.makingOffer = false; p.nextType = null; }
  };
  pc.onconnectionstatechange = () => {
    p.state = pc.connectionState;
    if (pc.connectionState === "failed") pc.restartIce();
    changed();
  };
  pc.ontrack = (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    if (e.track.kind === "audio") {
      if (!p.audio) {
        p.audio = document.createElement("audio");
        p.audio.autoplay = true;
        p.audio.dataset.user = uid;
        sinkEl().appendChild(p.audio);
      }
      p.audio.srcObject = stream;
      p.audio.muted = V.deafened;
      p.audio.play().catch(() => {});
      meter(uid, stream);
    } else {
      p.videos.set(stream.id, stream);
      e.track.onended = () => { p.videos.delete(stream.id); changed(); };
      stream.onremovetrack = () => { if (!stream.getTracks().length) { p.videos.delete(stream.id); changed(); } };
    }
    changed();
  };
  V.peers.set(uid, p);
  return p;
}

/** Send our microphone (and any video) on a peer we are calling. */
function offerTo(uid) {
  if (V.peers.has(uid)) return;
  const p = newPeer(uid);
  const track = micTrack();
  const t = track
    ? p.pc.addTransceiver(track, { direction: "sendrecv", streams: [V.local] })
    : p.pc.addTransceiver("audio", { direction: "recvonly" });
  p.audioSender = t.sender;
  if (track && V.muted) t.sender.replaceTrack(null);
  addVideo(p, V.camera, "camera");
  addVideo(p, V.screen, "screen");
}

/** A peer that called us: answer its audio with our microphone. */
function attachLocal(p) {
  if (p.audioSender) return;
  const t = p.pc.getTransceivers().find((x) => x.receiver.track && x.receiver.track.kind === "audio");
  if (!t) return;
  const track = micTrack();
  p.audioSender = t.sender;
  if (track) {
    t.direction = "sendrecv";
    if (t.sender.setStreams) t.sender.setStreams(V.local);
    t.sender.replaceTrack(V.muted ? null : track);
  }
}

function addVideo(p, stream, kind) {
  if (!stream || p.videoSenders.has(kind)) return;
  p.nextType = kind;
  p.videoSenders.set(kind, p.pc.addTrack(stream.getVideoTracks()[0], stream));
}

function removeVideo(p, kind) {
  const sender = p.videoSenders.get(kind);
  if (!sender) return;
  p.videoSenders.delete(kind);
  try { p.pc.removeTrack(sender); } catch { /* closed */ }
}

function closePeer(uid) {
  const p = V.peers.get(uid);
  if (!p) return;
  V.peers.delete(uid);
  try { p.pc.close(); } catch { /* already closed */ }
  if (p.audio) { p.audio.srcObject = null; p.audio.remove(); }
  meters.delete(uid);
  V.speaking.delete(uid);
  changed();
}

async function handleSignal(d) {
  const uid = d.from_user_id;
  const p = V.peers.get(uid) || newPeer(uid);
  const pc = p.pc;
  if (d.type === "offer" || d.type === "answer") {
    if (typeof d.sdp !== "string") return;
    const collision = d.type === "offer" && (p.makingOffer || pc.signalingState !== "stable");
    p.ignoreOffer = !p.polite && collision;
    if (p.ignoreOffer) return;
    await pc.setRemoteDescription({ type: d.type, sdp: d.sdp });
    if (d.type === "offer") {
      attachLocal(p);
      addVideo(p, V.camera, "camera");
      addVideo(p, V.screen, "screen");
      await pc.setLocalDescription();
      signal(uid, { type: "answer", sdp: pc.localDescription.sdp });
    }
  } else if (d.type === "candidate") {
    try {
      await pc.addIceCandidate(d.candidate
        ? { candidate: d.candidate, sdpMid: d.sdp_mid ?? null, sdpMLineIndex: d.sdp_mline_index ?? null }
        : null);
    } catch (e) { if (!p.ignoreOffer) console.warn("voice: candidate", e); }
  }
}

// ---------------------------------------------------------------- speaking levels

function meter(uid, stream) {
  if (!audioCtx || !stream.getAudioTracks().length) return;
  try {
    const src = audioCtx.createMediaStreamSource(stream);
    const analyser = audioCtx.createAnalyser();
    analyser.fftSize = 512;
    src.connect(analyser);
    meters.set(uid, { analyser, buf: new Float32Array(analyser.fftSize) });
  } catch (e) { console.warn("voice: meter", e); }
  if (!meterTimer) meterTimer = setInterval(measure, 150);
}

function measure() {
  const now = new Set();
  for (const [uid, m] of meters) {
    if (uid === me() && V.muted) continue;
    m.analyser.getFloatTimeDomainData(m.buf);
    let sum = 0;
    for (const x of m.buf) sum += x * x;
    if (Math.sqrt(sum / m.buf.length) > LEVEL_THRESHOLD) now.add(uid);
  }
  const same = now.size === V.speaking.size && [...now].every((u) => V.speaking.has(u));
  if (!same) { V.speaking = now; changed(); }
}

// ---------------------------------------------------------------- actions

/** Join ``channel`` (a voice Channel). The microphone is asked for first; without one
 * (refused, missing, or a page that is not a secure context) you join listening only. */
export async function join(channel) {
  if (V.cid === channel.id || V.joining) return;
  V.clickAt = Date.now();
  if (V.cid) teardown();  // the join below moves us (API.md §4.6): no DELETE, whose late leave would race it
  V.joining = channel.id; V.error = null; V.notice = null;
  changed();
  try {
    audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
    audioCtx.resume().catch(() => {});
  } catch { audioCtx = null; }
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    V.notice = "insecure";
  } else {
    try {
      V.local = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false });
    } catch (e) { V.notice = e && e.name === "NotAllowedError" ? "denied" : "nomic"; }
  }
  try {
    const ice = await api("GET", "/ice-servers").catch(() => ({ iceServers: [] }));
    V.iceServers = Array.isArray(ice.iceServers) ? ice.iceServers : [];
    const sessionId = live.gateway && live.gateway.sessionId;
    await api("POST", `/channels/${channel.id}/voice`, sessionId ? { session_id: sessionId } : {});
    V.cid = channel.id; V.sid = channel.server_id; V.muted = !V.local; V.deafened = false;
    if (!V.local) await api("PATCH", `/channels/${channel.id}/voice`, { self_mute: true }).catch(() => {});
    if (V.local) meter(me(), V.local);
    const here = await api("GET", `/channels/${channel.id}/voice`);
    for (const v of here) if (v.user_id !== me()) offerTo(v.user_id);
  } catch (e) {
    V.error = e && e.message ? e.message : String(e);
    teardown();
  } finally {
    V.joining = null;
    changed();
  }
}

/** Close every connection and release the devices (no request). */
function teardown() {
  for (const uid of [...V.peers.keys()]) closePeer(uid);
  for (const s of [V.local, V.camera, V.screen]) if (s) s.getTracks().forEach((t) => t.stop());
  V.local = V.camera = V.screen = null;
  V.cid = V.sid = null;
  V.muted = V.deafened = false;
  meters = new Map();
  V.speaking = new Set();
  clearInterval(meterTimer); meterTimer = null;
  changed();
}

export async function leave() {
  const cid = V.cid;
  teardown();
  if (cid) await api("DELETE", `/channels/${cid}/voice`).catch(() => {});
}

async function flags(patch) {
  if (V.cid) await api("PATCH", `/channels/${V.cid}/voice`, patch).catch((e) => { V.error = e.message; });
  changed();
}

export function setMuted(muted) {
  if (!V.local && !muted) return;
  V.muted = muted;
  if (!muted && V.deafened) setDeafened(false);
  const track = micTrack();
  for (const p of V.peers.values()) if (p.audioSender && track) p.audioSender.replaceTrack(muted ? null : track);
  if (muted) V.speaking.delete(me());
  return flags({ self_mute: V.muted });
}

export function setDeafened(deafened) {
  V.deafened = deafened;
  for (const p of V.peers.values()) if (p.audio) p.audio.muted = deafened;
  if (deafened && !V.muted) {
    V.muted = true;
    const track = micTrack();
    for (const p of V.peers.values()) if (p.audioSender && track) p.audioSender.replaceTrack(null);
  }
  return flags({ self_deaf: V.deafened, self_mute: V.muted });
}

async function toggleVideo(kind) {
  const key = kind === "camera" ? "camera" : "screen";
  if (V[key]) {
    V[key].getTracks().forEach((t) => t.stop());
    V[key] = null;
    for (const p of V.peers.values()) removeVideo(p, key);
  } else {
    try {
      V[key] = kind === "camera"
        ? await navigator.mediaDevices.getUserMedia({ video: true })
        : await navigator.mediaDevices.getDisplayMedia({ video: true });
    } catch (e) { V.error = `${kind === "camera" ? "Camera" : "Screen share"}: ${e.message || e.name}`; changed(); return; }
    V[key].getVideoTracks()[0].onended = () => { if (V[key]) toggleVideo(kind); };
    for (const p of V.peers.values()) addVideo(p, V[key], key);
  }
  await flags(kind === "camera" ? { self_video: !!V.camera } : { self_screen: !!V.screen });
}
export const toggleCamera = () => toggleVideo("camera");
export const toggleScreen = () => toggleVideo("screen");

// ---------------------------------------------------------------- gateway

onDispatch((t, d) => {
  if (t === "VOICE_SIGNAL" && V.cid && d && d.from_user_id) {
    const p = V.peers.get(d.from_user_id) || newPeer(d.from_user_id);
    p.chain = p.chain.then(() => handleSignal(d)).catch((e) => console.warn("voice: signal", e));
  } else if (t === "VOICE_STATE_UPDATE" && V.cid && d) {
    if (d.user_id === me()) {
      // Ended (kicked, channel gone, session ended) or moved by another tab. The leave of an
      // old server after a move between servers names that server: not ours to act on.
      const ended = d.channel_id === null ? d.server_id === V.sid : d.channel_id !== V.cid;
      if (ended) { teardown(); V.notice = null; V.error = "You left the voice channel."; }
    } else if (d.channel_id !== V.cid) {
      closePeer(d.user_id);
    }
  } else if (t === "READY" && V.cid) {
    teardown();  // a fresh session: the old one's voice state has ended (API.md §6.5)
    V.error = "Voice was disconnected; join again.";
  }
});

/** For tests and debugging: each peer's connection state and received/sent audio bytes. */
export async function voiceStats() {
  const out = [];
  for (const p of V.peers.values()) {
    let inBytes = 0, outBytes = 0, inVideo = 0;
    try {
      (await p.pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "audio") inBytes += r.bytesReceived || 0;
        if (r.type === "inbound-rtp" && r.kind === "video") inVideo += r.bytesReceived || 0;
        if (r.type === "outbound-rtp" && r.kind === "audio") outBytes += r.bytesSent || 0;
      });
    } catch { /* closed */ }
    out.push({ user_id: p.uid, state: p.pc.connectionState, ice: p.pc.iceConnectionState,
      inbound_audio_bytes: inBytes, outbound_audio_bytes: outBytes, inbound_video_bytes: inVideo });
  }
  return { channel_id: V.cid, muted: V.muted, deafened: V.deafened, peers: out };
}
window.togetherVoice = { stats: voiceStats, state: V };

// ---------------------------------------------------------------- view

function Video({ stream, label, self }) {
  const ref = useRef(null);
  useEffect(() => { if (ref.current && ref.current.srcObject !== stream) ref.current.srcObject = stream; }, [stream]);
  return html`<figure class="voice-video"><video ref=${ref} autoplay playsinline muted=${true}
    aria-label=${label}></video><figcaption dir="auto">${label}${self ? " (you)" : ""}</figcaption></figure>`;
}

function InsecureNotice() {
  const host = location.host;
  return html`<div class="voice-notice" role="note">
    <p><b>Your browser blocks the microphone on this page</b>, because it is not a secure page
      (it is <code>http://${host}</code>; browsers allow microphones and cameras only over HTTPS or on
      <code>localhost</code>). You can still join and listen.</p>
    <p>To talk: the host starts the server with <code>together-server serve --lan</code>, which serves
      HTTPS and prints the <code>https://</code> addresses to open. Trust its certificate once per device
      (the host's terminal shows the page that explains how, on port ${Number(location.port || 80) + 1}).</p>
  </div>`;
}

const NOTICES = {
  denied: "The microphone was refused: allow it in the browser's site settings, then join again. You are listening only.",
  nomic: "No microphone was found. You are listening only.",
};

export function VoiceView({ channel, server }) {
  const here = ((server && S.voice[server.id]) || []).filter((v) => v.channel_id === channel.id);
  const inHere = V.cid === channel.id;
  const videos = [];
  if (inHere) {
    if (V.camera) videos.push({ key: "me-camera", stream: V.camera, label: `${nameOf(me())} — camera`, self: true });
    if (V.screen) videos.push({ key: "me-screen", stream: V.screen, label: `${nameOf(me())} — screen`, self: true });
    for (const p of V.peers.values()) for (const [id, s] of p.videos) videos.push({ key: id, stream: s, label: nameOf(p.uid) });
  }
  const secure = window.isSecureContext;
  return html`<section class="voice-panel" aria-label="Voice">
    ${!secure && html`<${InsecureNotice} />`}
    ${inHere && V.notice && NOTICES[V.notice] && html`<p class="voice-notice" role="status">${NOTICES[V.notice]}</p>`}
    ${V.error && html`<p class="error" role="alert">${V.error}</p>`}
    <ul class="voice-people" aria-label="In the voice channel">
      ${here.length === 0 && html`<li class="muted">Nobody is here yet.</li>`}
      ${here.map((v) => {
        const p = V.peers.get(v.user_id);
        const speaking = inHere && V.speaking.has(v.user_id);
        const state = inHere && v.user_id !== me() ? (p ? p.state : "waiting") : null;
        return html`<li key=${v.user_id} class=${"voice-person" + (speaking ? " speaking" : "")} data-user=${v.user_id}
            aria-label=${`${v.username || nameOf(v.user_id)}${speaking ? ", speaking" : ""}${v.self_mute ? ", muted" : ""}${v.self_deaf ? ", deafened" : ""}`}>
          <span class="voice-dot" aria-hidden="true"></span>
          <span class="name" dir="auto">${v.username || nameOf(v.user_id)}</span>
          ${v.self_mute && html`<span title="Muted" aria-hidden="true">🔇</span>`}
          ${v.self_deaf && html`<span title="Deafened" aria-hidden="true">🎧</span>`}
          ${v.self_video && html`<span title="Camera on" aria-hidden="true">📷</span>`}
          ${v.self_screen && html`<span title="Sharing the screen" aria-hidden="true">🖥️</span>`}
          ${state && state !== "connected" && html`<span class="voice-state">${state}</span>`}
        </li>`;
      })}
    </ul>
    <div class="voice-controls">
      ${!inHere && html`<button class="primary" disabled=${!!V.joining} onClick=${() => join(channel)}>
        ${V.joining === channel.id ? "Joining…" : V.cid ? "Move to this voice channel" : "Join voice"}</button>`}
      ${inHere && html`
        <button aria-pressed=${V.muted ? "true" : "false"} disabled=${!V.local} onClick=${() => setMuted(!V.muted)}>${V.muted ? "Unmute" : "Mute"}</button>
        <button aria-pressed=${V.deafened ? "true" : "false"} onClick=${() => setDeafened(!V.deafened)}>${V.deafened ? "Undeafen" : "Deafen"}</button>
        <button aria-pressed=${V.camera ? "true" : "false"} disabled=${!secure} onClick=${toggleCamera}>${V.camera ? "Stop camera" : "Camera"}</button>
        <button aria-pressed=${V.screen ? "true" : "false"} disabled=${!secure || !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia)} onClick=${toggleScreen}>${V.screen ? "Stop sharing" : "Share screen"}</button>
        <button class="danger" onClick=${leave}>Leave voice</button>`}
    </div>
    ${videos.length > 0 && html`<div class="voice-videos">${videos.map((v) => html`<${Video} key=${v.key} ...${v} />`)}</div>`}
  </section>`;
}
