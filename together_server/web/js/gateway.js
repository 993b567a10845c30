// The gateway client (API.md §6): heartbeats, the last `s`, resume with session_id + seq
// after a drop, backoff 1 s doubling to 30 s with jitter, a fresh READY after a restart.
// A socket that stops answering heartbeats, or a browser that goes offline, counts as a drop.

import { freshToken, refresh } from "./api.js";

export class Gateway {
  constructor(onDispatch, onState) {
    this.onDispatch = onDispatch;   // (t, d, envelope) for each DISPATCH, in order
    this.onState = onState;         // "connecting" | "ready" | "reconnecting" | "stopped"
    this.ws = null;
    this.sessionId = null;
    this.seq = 0;
    this.backoff = 1000;
    this.stopped = false;
    this.beat = null;
    this.acked = true;
    this.retry = null;
    this.failures = 0;
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => { if (!this.ws && !this.stopped) this.connectSoon(50); });
  }

  async connect() {
    clearTimeout(this.retry);
    if (this.stopped) return;
    this.onState(this.sessionId ? "reconnecting" : "connecting");
    let token;
    try {
      // sockets that die before READY may mean a revoked token (the upgrade answers 401,
      // which a browser cannot see): refresh; a dead refresh token signs out (api.js)
      if (this.failures >= 2) await refresh();
      token = await freshToken();
    } catch (e) {
      if (e.status === 401) { this.stop(); return; }
      this.connectSoon(); return;
    }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let url = `${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`;
    if (this.sessionId) url += `&session_id=${encodeURIComponent(this.sessionId)}&seq=${this.seq}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onmessage = (ev) => this.frame(ws, ev.data);
    ws.onclose = (ev) => this.closed(ws, ev.code);
  }

  frame(ws, data) {
    if (ws !== this.ws) return;
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg.op === "HEARTBEAT_ACK") { this.acked = true; return; }
    if (msg.op !== "DISPATCH") return;
    if (typeof msg.s === "number") {
      if (msg.t !== "READY" && msg.s <= this.seq) return;  // seen before (a replay overlap)
      this.seq = msg.s;
    }
    if (msg.t === "READY" || msg.t === "RESUMED") this.failures = 0;
    if (msg.t === "READY") {
      this.sessionId = msg.d.session_id;
      this.startHeartbeat(msg.d.heartbeat_interval || 30000);
      this.backoff = 1000;
    } else if (msg.t === "RESUMED") {
      this.backoff = 1000;
    }
    this.onDispatch(msg.t, msg.d, msg);
    if (msg.t === "READY" || msg.t === "RESUMED") this.onState("ready");
  }

  startHeartbeat(interval) {
    clearInterval(this.beat);
    this.acked = true;
    this.beat = setInterval(() => {
      if (!this.acked) { this.drop(); return; }  // no answer to the last one: a dead socket
      this.acked = false;
      this.send({ op: "HEARTBEAT" });
    }, Math.min(interval, 30000));
  }

  send(obj) {
    if (this.ws && this.ws.readyState === 1) { this.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  /** Close the socket (keeping the session for a resume) and reconnect. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    clearInterval(this.beat);
    try { ws.close(4000); } catch { /* already closing */ }
    this.onState("reconnecting");
    this.connectSoon(navigator.onLine === false ? 30000 : 300);
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.beat);
    if (this.stopped) return;
    if (code === 4002) return;  // resumed elsewhere (another socket of ours)
    this.failures += 1;
    this.onState("reconnecting");
    if (code === 4001) {  // what the session was bound to ended: no resume, a new credential first
      this.sessionId = null;
      this.seq = 0;
      this.failures = 2;
      this.connectSoon(0);
      return;
    }
    this.connectSoon();
  }

  connectSoon(delay) {
    clearTimeout(this.retry);
    const wait = delay !== undefined ? delay : this.backoff * (0.8 + Math.random() * 0.4);
    if (delay === undefined) this.backoff = Math.min(this.backoff * 2, 30000);
    this.retry = setTimeout(() => this.connect(), wait);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.beat);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(1000); }
    this.onState("stopped");
  }
}
