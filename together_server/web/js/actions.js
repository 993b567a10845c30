// What views ask for: message pages (cursor paging, a bounded window), acks, navigation.

import { api } from "./api.js";
import { S, bucket, changed, insertMessages, learnUser, toast, dmById, sortChannels } from "./store.js";

export const WINDOW = 200;  // at most this many messages of a channel are kept (and rendered)
const PAGE = 50;
const STEP = 30;  // pages loaded while scrolling: smaller, so no frame renders too much at once

export function isDm(cid) { return !!dmById(cid); }
function listPath(cid) { return isDm(cid) ? `/dm-channels/${cid}/messages` : `/channels/${cid}/messages`; }

export function navigate(hash) {
  if (location.hash !== hash) location.hash = hash; else window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function fail(e) { toast(e && e.message ? e.message : String(e)); }

/** The newest page of a channel (first open, or after a fresh READY). */
export async function loadLatest(cid) {
  const b = bucket(cid);
  b.loading = true;
  try {
    const page = await api("GET", `${listPath(cid)}?limit=${PAGE}`);
    b.items = [];
    insertMessages(cid, page);
    b.hasOlder = page.length === PAGE;
    b.hasNewer = false;
    b.loaded = true;
  } finally { b.loading = false; changed(); }
}

/** Older page (scroll up); trims the newest end past WINDOW. */
export async function loadOlder(cid) {
  const b = bucket(cid);
  if (b.loading || !b.hasOlder || !b.items.length) return false;
  b.loading = true;
  try {
    const page = await api("GET", `${listPath(cid)}?limit=${STEP}&before=${b.items[0].id}`);
    insertMessages(cid, page);
    b.hasOlder = page.length === STEP;
    if (b.items.length > WINDOW) { b.items = b.items.slice(0, WINDOW); b.hasNewer = true; }
    return page.length > 0;
  } finally { b.loading = false; changed(); }
}

/** Newer page (scroll down after a jump or a trim); trims the oldest end past WINDOW. */
export async function loadNewer(cid) {
  const b = bucket(cid);
  if (b.loading || !b.hasNewer || !b.items.length) return false;
  b.loading = true;
  try {
    const page = await api("GET", `${listPath(cid)}?limit=${STEP}&after=${b.items[b.items.length - 1].id}`);
    insertMessages(cid, page);
    b.hasNewer = page.length === STEP;
    if (b.items.length > WINDOW) { b.items = b.items.slice(b.items.length - WINDOW); b.hasOlder = true; }
    return page.length > 0;
  } finally { b.loading = false; changed(); }
}

/** Load the messages around one message (a search hit, a deep link). */
export async function loadAround(cid, mid) {
  const b = bucket(cid);
  b.loading = true;
  try {
    const [one, older, newer] = await Promise.all([
      api("GET", `/channels/${cid}/messages/${mid}`).catch(() => null),
      api("GET", `${listPath(cid)}?limit=${PAGE}&before=${mid}`),
      api("GET", `${listPath(cid)}?limit=${PAGE}&after=${mid}`),
    ]);
    b.items = [];
    insertMessages(cid, [...older, ...(one ? [one] : []), ...newer]);
    b.hasOlder = older.length === PAGE;
    b.hasNewer = newer.length === PAGE;
    b.loaded = true;
    return !!one;
  } finally { b.loading = false; changed(); }
}

/** After a fresh READY (nothing could be replayed): fetch what came after our newest. */
export async function catchUp(cid) {
  const b = S.msgs[cid];
  if (!b || !b.loaded || !b.items.length || b.hasNewer) { if (b) b.loaded = false; return; }
  for (let i = 0; i < 20; i++) {
    const page = await api("GET", `${listPath(cid)}?limit=100&after=${b.items[b.items.length - 1].id}`);
    insertMessages(cid, page);
    if (page.length < 100) break;
  }
  if (b.items.length > WINDOW) { b.items = b.items.slice(b.items.length - WINDOW); b.hasOlder = true; }
  changed();
}

const acked = {};
/** Mark a channel read up to its newest message (debounced per channel). */
export function ack(cid) {
  const b = S.msgs[cid];
  const newest = b && b.items.length ? b.items[b.items.length - 1].id : null;
  if (!S.unread[cid] && !S.mentions[cid] && acked[cid] === newest) return;
  if (acked[cid] === newest && newest) return;
  acked[cid] = newest;
  if (S.unread[cid] || S.mentions[cid]) { S.unread[cid] = 0; S.mentions[cid] = 0; changed(); }
  if (ackTimers[cid]) return;  // one POST per channel per second at most: the newest wins
  ackTimers[cid] = setTimeout(() => {
    delete ackTimers[cid];
    const path = isDm(cid) ? `/dm-channels/${cid}/ack` : `/channels/${cid}/ack`;
    const id = acked[cid];
    api("POST", path, id ? { message_id: id } : undefined).catch(() => { acked[cid] = null; });
  }, 1000);
}
const ackTimers = {};

export async function loadMembers(sid) {
  const list = await api("GET", `/servers/${sid}/members`);
  S.members[sid] = list;
  for (const m of list) learnUser({ id: m.user_id, username: m.username, avatar_url: m.avatar_url, status: m.status });
  changed();
}

export async function openDm(userId) {
  const dm = await api("POST", "/dm-channels", { user_id: userId });
  if (!dmById(dm.id)) S.dms.unshift(dm);
  learnUser(dm.recipient);
  navigate(`#/dm/${dm.id}`);
}

export function inviteLink(code) { return `${location.origin}/#/invite/${code}`; }

export async function copyText(text) {
  try { await navigator.clipboard.writeText(text); toast("Copied"); }
  catch { toast("Copy this: " + text); }
}

/** An ApiError as one line: the message plus each field error. */
export function errText(e) {
  return e.message + (e.errors ? " (" + Object.entries(e.errors).map(([k, v]) => `${k}: ${v}`).join("; ") + ")" : "");
}

/** A server joined or created after READY: its channels, roles, overrides and our member. */
export async function loadServer(sid) {
  const [channels, roles, members] = await Promise.all([
    api("GET", `/servers/${sid}/channels`), api("GET", `/servers/${sid}/roles`), api("GET", `/servers/${sid}/members`),
  ]);
  const known = S.channels[sid] || [];
  S.channels[sid] = sortChannels([...channels, ...known.filter((c) => !channels.find((x) => x.id === c.id))]);
  S.roles[sid] = roles;
  S.members[sid] = members;
  for (const m of members) learnUser({ id: m.user_id, username: m.username, avatar_url: m.avatar_url, status: m.status });
  const mine = members.find((m) => S.me && m.user_id === S.me.id);
  if (mine) S.own[sid] = mine;
  const ovs = await Promise.all(channels.slice(0, 100).map((c) => api("GET", `/channels/${c.id}/overrides`).catch(() => [])));
  channels.slice(0, 100).forEach((c, i) => { S.overrides[c.id] = ovs[i]; });
  changed();
  window.dispatchEvent(new HashChangeEvent("hashchange"));  // a link waiting for this server
}
