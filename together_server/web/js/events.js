// Dispatches (API.md §6.7) applied to the store, plus unread counts, notifications, title.

import { S, applyReady, bucket, changed, insertMessages, learnUser, sortChannels, channelById, dmById } from "./store.js";
import { catchUp, navigate, loadMembers, loadServer } from "./actions.js";
import { notifyMessage } from "./notify.js";

let readyCount = 0;

/** Is this channel on screen and the tab visible (so a new message counts as read)? */
export function looking(cid) {
  return S.route.cid === cid && document.visibilityState === "visible";
}

function mentionsMe(m) {
  return !!(S.me && ((m.mention_user_ids || []).includes(S.me.id) || m.mention_everyone));
}

function newMessage(cid, m, isDmMsg) {
  const b = bucket(cid);
  if (b.loaded && !b.hasNewer) {
    insertMessages(cid, [m]);
    if (b.items.length > 400) b.items = b.items.slice(b.items.length - 200), (b.hasOlder = true);
  }
  if (S.me && m.author_id !== S.me.id) {
    const t = S.typing[cid];
    if (t && t[m.author_id]) delete t[m.author_id];
    if (!looking(cid) || !b.atBottom) {
      S.unread[cid] = (S.unread[cid] || 0) + 1;
      if (!isDmMsg && mentionsMe(m)) S.mentions[cid] = (S.mentions[cid] || 0) + 1;
    }
    if (isDmMsg || mentionsMe(m)) notifyMessage(cid, m, isDmMsg);
  }
}

function updateMessage(cid, patch) {
  const b = S.msgs[cid];
  if (!b) return;
  const i = b.items.findIndex((x) => x.id === patch.id);
  if (i >= 0) b.items[i] = { ...b.items[i], ...patch };
}

/** Change one message: `fn` edits a copy, which replaces it (views compare identities). */
function withMessage(cid, mid, fn) {
  const b = S.msgs[cid];
  const i = b ? b.items.findIndex((x) => x.id === mid) : -1;
  if (i < 0) return;
  const copy = { ...b.items[i] };
  fn(copy);
  b.items[i] = copy;
}

function reaction(d, delta) {
  withMessage(d.channel_id, d.message_id, (m) => {
    const list = [...(m.reactions || [])];
    const i = list.findIndex((r) => r.emoji === d.emoji);
    const mine = S.me && d.user_id === S.me.id;
    if (i < 0 && delta > 0) list.push({ emoji: d.emoji, count: 1, me: mine });
    else if (i >= 0) {
      const r = { ...list[i], count: list[i].count + delta };
      if (mine) r.me = delta > 0;
      if (r.count <= 0) list.splice(i, 1); else list[i] = r;
    }
    m.reactions = list;
    if (m.reactors) delete m.reactors[d.emoji];  // who-reacted lists are refetched on demand
  });
}

function removeChannel(id) {
  for (const sid in S.channels) S.channels[sid] = S.channels[sid].filter((c) => c.id !== id);
  delete S.msgs[id];
  delete S.unread[id];
  delete S.mentions[id];
  if (S.route.cid === id) navigate(S.route.sid && S.servers[S.route.sid] ? `#/channels/${S.route.sid}` : "#/");
}

function removeServer(id) {
  for (const c of S.channels[id] || []) { delete S.msgs[c.id]; delete S.unread[c.id]; delete S.mentions[c.id]; }
  delete S.servers[id];
  delete S.channels[id];
  delete S.members[id];
  S.order = S.order.filter((x) => x !== id);
  if (S.route.sid === id) navigate("#/");
}

function memberRoles(sid, uid, fn) {
  const list = S.members[sid];
  const m = list && list.find((x) => x.user_id === uid);
  if (m) m.roles = fn(m.roles || []);
  if (S.me && uid === S.me.id && S.own[sid]) S.own[sid] = { ...S.own[sid], roles: fn(S.own[sid].roles || []) };
}

const HANDLERS = {
  READY(d) {
    applyReady(d);
    readyCount += 1;
    if (readyCount > 1) {
      // a fresh session after a restart or an expired hold: fetch what the gap held
      for (const cid in S.msgs) if (cid === S.route.cid) catchUp(cid).catch(() => {}); else delete S.msgs[cid];
      for (const sid in S.members) if (S.servers[sid]) loadMembers(sid).catch(() => {}); else delete S.members[sid];
    }
  },
  RESUMED() {},
  MESSAGE_CREATE(d) { newMessage(d.channel_id, d, false); },
  MESSAGE_UPDATE(d) { updateMessage(d.channel_id, d); },
  MESSAGE_DELETE(d) {
    const b = S.msgs[d.channel_id];
    if (b) b.items = b.items.filter((m) => m.id !== d.id);
  },
  DM_MESSAGE_CREATE(d) {
    const dm = dmById(d.channel_id);
    if (dm) { dm.last_message_at = d.created_at; S.dms = [dm, ...S.dms.filter((x) => x !== dm)]; }
    newMessage(d.channel_id, d, true);
  },
  DM_MESSAGE_DELETE(d) { HANDLERS.MESSAGE_DELETE(d); },
  DM_CHANNEL_CREATE(d) {
    if (!dmById(d.id)) S.dms.unshift(d);
    learnUser(d.recipient);
  },
  REACTION_ADD(d) { reaction(d, 1); },
  REACTION_REMOVE(d) { reaction(d, -1); },
  MESSAGE_PIN(d) { withMessage(d.channel_id, d.message_id, (m) => { m.pinned = true; m.pinned_by = d.pinned_by; }); },
  MESSAGE_UNPIN(d) { withMessage(d.channel_id, d.message_id, (m) => { m.pinned = false; m.pinned_by = null; }); },
  TYPING_START(d) {
    if (S.me && d.user_id === S.me.id) return;
    const t = (S.typing[d.channel_id] ||= {});
    t[d.user_id] = { name: d.username, until: Date.now() + 10000 };
    setTimeout(changed, 10100);
  },
  PRESENCE_UPDATE(d) {
    S.presence[d.user_id] = d.status;
    if (S.me && d.user_id === S.me.id) S.me = { ...S.me, status: d.status, custom_status: d.custom_status };
    for (const sid in S.members) {
      const m = S.members[sid].find((x) => x.user_id === d.user_id);
      if (m) { m.status = d.status; m.custom_status = d.custom_status; }
    }
  },
  USER_UPDATE(d) {
    learnUser(d);
    for (const sid in S.members) {
      const m = S.members[sid].find((x) => x.user_id === d.id);
      if (m) m.avatar_url = d.avatar_url;
    }
  },
  CHANNEL_ACK(d) { S.unread[d.channel_id] = 0; S.mentions[d.channel_id] = 0; },
  CHANNEL_CREATE(d) {
    const list = (S.channels[d.server_id] ||= []);
    if (!list.find((c) => c.id === d.id)) list.push(d);
    sortChannels(list);
  },
  CHANNEL_UPDATE(d) {
    const list = S.channels[d.server_id] || [];
    const i = list.findIndex((c) => c.id === d.id);
    if (i >= 0) list[i] = d; else list.push(d);
    sortChannels(list);
  },
  CHANNEL_DELETE(d) { removeChannel(d.id); },
  CHANNEL_OVERRIDE_UPDATE(d) {
    const list = (S.overrides[d.channel_id] ||= []);
    const i = list.findIndex((o) => o.id === d.id);
    if (i >= 0) list[i] = d; else list.push(d);
  },
  CHANNEL_OVERRIDE_DELETE(d) {
    S.overrides[d.channel_id] = (S.overrides[d.channel_id] || []).filter((o) => o.id !== d.override_id);
  },
  SERVER_CREATE(d) {
    if (!S.servers[d.id]) S.order.push(d.id);
    S.servers[d.id] = d;
    S.channels[d.id] ||= [];
    S.roles[d.id] ||= [];
    if (S.me && !S.own[d.id]) S.own[d.id] = { user_id: S.me.id, username: S.me.username, roles: [] };
    loadServer(d.id).catch(() => {});
  },
  SERVER_UPDATE(d) { if (S.servers[d.id]) S.servers[d.id] = d; },
  SERVER_DELETE(d) { removeServer(d.id); },
  ROLE_CREATE(d) { (S.roles[d.server_id] ||= []).push(d); S.roles[d.server_id].sort((a, b) => b.position - a.position); },
  ROLE_UPDATE(d) {
    const list = (S.roles[d.server_id] ||= []);
    const i = list.findIndex((r) => r.id === d.id);
    if (i >= 0) list[i] = d; else list.push(d);
    list.sort((a, b) => b.position - a.position);
    for (const uid of [S.me && S.me.id]) memberRoles(d.server_id, uid, (rs) => rs.map((r) => (r.id === d.id ? { ...r, name: d.name, color: d.color, position: d.position } : r)));
  },
  ROLE_DELETE(d) {
    S.roles[d.server_id] = (S.roles[d.server_id] || []).filter((r) => r.id !== d.role_id);
    for (const m of S.members[d.server_id] || []) m.roles = (m.roles || []).filter((r) => r.id !== d.role_id);
    if (S.own[d.server_id]) S.own[d.server_id].roles = (S.own[d.server_id].roles || []).filter((r) => r.id !== d.role_id);
  },
  MEMBER_ROLE_ADD(d) {
    const role = (S.roles[d.server_id] || []).find((r) => r.id === d.role_id) || { id: d.role_id, name: d.role_name, color: d.role_color, position: 0 };
    memberRoles(d.server_id, d.user_id, (rs) => (rs.find((r) => r.id === d.role_id) ? rs : [...rs, role].sort((a, b) => b.position - a.position)));
  },
  MEMBER_ROLE_REMOVE(d) { memberRoles(d.server_id, d.user_id, (rs) => rs.filter((r) => r.id !== d.role_id)); },
  MEMBER_JOIN(d) {
    learnUser({ id: d.user_id, username: d.username, avatar_url: d.avatar_url, status: d.status });
    const list = S.members[d.server_id];
    if (list && !list.find((m) => m.user_id === d.user_id)) list.push(d);
    const s = S.servers[d.server_id];
    if (s && list) s.member_count = list.length;
  },
  MEMBER_LEAVE(d) { memberGone(d); },
  MEMBER_KICK(d) { memberGone(d); },
  MEMBER_BAN(d) { memberGone(d); },
  MEMBER_TIMEOUT(d) { setMember(d.server_id, d.user_id, { timed_out_until: d.expires_at }); },
  MEMBER_TIMEOUT_REMOVE(d) { setMember(d.server_id, d.user_id, { timed_out_until: null }); },
  INVITE_CREATE(d) { if (S.invites[d.server_id]) S.invites[d.server_id].unshift(d); },
  INVITE_DELETE(d) { if (S.invites[d.server_id]) S.invites[d.server_id] = S.invites[d.server_id].filter((i) => i.id !== d.invite_id); },
  VOICE_STATE_UPDATE(d) {
    for (const sid in S.voice) S.voice[sid] = S.voice[sid].filter((v) => v.user_id !== d.user_id);
    if (d.channel_id) (S.voice[d.server_id] ||= []).push(d);
  },
};

function setMember(sid, uid, patch) {
  const m = (S.members[sid] || []).find((x) => x.user_id === uid);
  if (m) Object.assign(m, patch);
  if (S.me && uid === S.me.id && S.own[sid]) Object.assign(S.own[sid], patch);
}

function memberGone(d) {
  if (S.me && d.user_id === S.me.id) { removeServer(d.server_id); return; }
  if (S.members[d.server_id]) S.members[d.server_id] = S.members[d.server_id].filter((m) => m.user_id !== d.user_id);
}

/** Extra listeners (voice, LAN) may watch dispatches: `onDispatch((t, d) => ...)`. */
const extra = new Set();
export function onDispatch(fn) { extra.add(fn); return () => extra.delete(fn); }

// Events that cannot change how an already shown message looks; any other bumps S.epoch,
// which makes every message re-render (names, roles, permissions may have changed).
const QUIET = new Set(["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "REACTION_ADD", "REACTION_REMOVE",
  "MESSAGE_PIN", "MESSAGE_UNPIN", "TYPING_START", "PRESENCE_UPDATE", "CHANNEL_ACK", "DM_MESSAGE_CREATE",
  "DM_MESSAGE_DELETE", "VOICE_STATE_UPDATE", "VOICE_SIGNAL", "INVITE_CREATE", "INVITE_DELETE", "RESUMED"]);

export function dispatch(t, d) {
  if (!QUIET.has(t)) S.epoch = (S.epoch || 0) + 1;
  const fn = HANDLERS[t];
  if (fn) {
    try { fn(d); } catch (e) { console.error("dispatch", t, e); }
  }
  for (const f of extra) { try { f(t, d); } catch (e) { console.error("listener", t, e); } }
  changed();
}

export { channelById };
