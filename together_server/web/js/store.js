// The client's state: what READY gave, kept up to date by dispatches (API.md §6.7).
// One plain object, mutated here only; views re-render on `changed()`.

export const S = {
  me: null,
  servers: {},          // id -> Server
  order: [],            // server ids, oldest first
  channels: {},         // server id -> [Channel] (sorted)
  roles: {},            // server id -> [Role]
  overrides: {},        // channel id -> [Override]
  own: {},              // server id -> own Member
  voice: {},            // server id -> [VoiceState]
  dms: [],              // [DmChannel]
  unread: {},           // channel id -> count
  mentions: {},         // channel id -> count
  members: {},          // server id -> [Member] (fetched when a server opens)
  presence: {},         // user id -> status
  users: {},            // user id -> {username, avatar_url} (names seen)
  msgs: {},             // channel id -> {items: [], hasOlder, hasNewer, loaded}
  typing: {},           // channel id -> {user id: {name, until}}
  invites: {},          // server id -> [Invite]
  conn: "connecting",   // gateway state
  route: { view: "home" },
  toast: null,
};

/** The running gateway (set by main.js), for ops such as TYPING_START. */
export const live = { gateway: null };

const subs = new Set();
let queued = false;
export function subscribe(fn) { subs.add(fn); return () => subs.delete(fn); }
/** Ask every view to re-render (batched to one animation frame). */
export function changed() {
  if (queued) return;
  queued = true;
  queueMicrotask(() => { queued = false; for (const fn of subs) fn(); });
}

export function toast(text) {
  S.toast = { text, at: Date.now() };
  changed();
  setTimeout(() => { if (S.toast && Date.now() - S.toast.at >= 4500) { S.toast = null; changed(); } }, 5000);
}

export function sortChannels(list) {
  list.sort((a, b) => a.position - b.position || (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0)
    || (a.id < b.id ? -1 : 1));
  return list;
}

export function channelById(cid) {
  for (const sid in S.channels) {
    const c = S.channels[sid].find((x) => x.id === cid);
    if (c) return c;
  }
  return null;
}

export function dmById(id) { return S.dms.find((d) => d.id === id) || null; }

export function serverOfChannel(cid) {
  const c = channelById(cid);
  return c ? c.server_id : null;
}

export function learnUser(u) {
  if (!u || !u.id) return;
  S.users[u.id] = { ...(S.users[u.id] || {}), username: u.username, avatar_url: u.avatar_url ?? null };
  if (u.status) S.presence[u.id] = u.status;
}

export function nameOf(uid) {
  if (S.me && uid === S.me.id) return S.me.username;
  return (S.users[uid] && S.users[uid].username) || "unknown";
}

/** Messages of a channel: ascending by id, deduplicated. */
export function bucket(cid) {
  if (!S.msgs[cid]) S.msgs[cid] = { items: [], hasOlder: true, hasNewer: false, loaded: false };
  return S.msgs[cid];
}

export function insertMessages(cid, list) {
  const b = bucket(cid);
  const byId = new Map(b.items.map((m) => [m.id, m]));
  for (const m of list) byId.set(m.id, { ...(byId.get(m.id) || {}), ...m });
  b.items = [...byId.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return b;
}

export function applyReady(d) {
  S.me = d.user;
  learnUser(d.user);
  S.servers = {};
  S.order = [];
  for (const s of d.servers) { S.servers[s.id] = s; S.order.push(s.id); }
  S.channels = {};
  for (const sid in d.channels || {}) S.channels[sid] = sortChannels([...d.channels[sid]]);
  for (const sid of S.order) if (!S.channels[sid]) S.channels[sid] = [];
  S.roles = d.server_roles || {};
  S.overrides = d.channel_overrides || {};
  S.own = d.own_members || {};
  S.voice = d.voice_states || {};
  S.dms = d.dm_channels || [];
  for (const dm of S.dms) learnUser(dm.recipient);
  S.unread = {};
  for (const u of d.unread_counts || []) S.unread[u.channel_id] = u.unread_count;
  S.mentions = {};
  for (const m of d.mention_counts || []) S.mentions[m.channel_id] = m.count;
  for (const sid in S.own) learnUser({ id: S.own[sid].user_id, username: S.own[sid].username });
}
