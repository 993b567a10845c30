// Permission bits with readable names and the effective-permission rule of API.md §4.1,
// computed from READY's roles, overrides and own member (used only to show or hide controls:
// the server decides).

import { S } from "./store.js";

export const BITS = [
  ["VIEW_CHANNEL", 1, "View channels", "See a channel and read its messages"],
  ["SEND_MESSAGES", 2, "Send messages", "Post messages and show typing"],
  ["MANAGE_MESSAGES", 4, "Manage messages", "Delete others' messages, pin, mention @everyone"],
  ["ATTACH_FILES", 8, "Attach files", "Upload files with messages"],
  ["ADD_REACTIONS", 16, "Add reactions", "React to messages"],
  ["CONNECT_VOICE", 32, "Connect to voice", "Join voice channels"],
  ["SPEAK", 64, "Speak", "Talk in voice channels"],
  ["MUTE_MEMBERS", 128, "Time out members", "Time members out and lift timeouts"],
  ["KICK_MEMBERS", 256, "Kick members", "Remove members from the server"],
  ["BAN_MEMBERS", 512, "Ban members", "Ban and unban, see the ban list"],
  ["MANAGE_CHANNELS", 1024, "Manage channels", "Create, edit and delete channels and their overrides"],
  ["MANAGE_ROLES", 2048, "Manage roles", "Create, edit, delete and assign roles below your own"],
  ["MANAGE_SERVER", 4096, "Manage server", "Rename the server, revoke any invite"],
  ["ADMINISTRATOR", 8192, "Administrator", "Every permission; channel overrides do not apply"],
  ["CREATE_INVITES", 16384, "Create invites", "Create and list invites"],
  ["VIEW_AUDIT_LOG", 32768, "View audit log", "Read the server's audit log"],
  ["MANAGE_WEBHOOKS", 65536, "Manage webhooks", "Create, edit and delete webhooks"],
  ["MANAGE_AUTOMOD", 131072, "Manage automod", "Set the automatic moderation rules"],
  ["MANAGE_EMOJIS", 262144, "Manage emoji", "Upload and delete the server's custom emoji"],
];
export const P = Object.fromEntries(BITS.map(([n, v]) => [n, v]));
export const ALL = 524287;  // bits 0-18 (API.md §4.1 + issue 13 + issue 12's MANAGE_EMOJIS)
export const CHANNEL_BITS = 1151;
export const DEFAULT = 123;

function isOwner(sid) {
  const s = S.servers[sid];
  return !!(s && S.me && s.owner_id === S.me.id);
}

/** Server-level permissions of the caller (§4.1 steps 1-2). */
export function serverPerms(sid) {
  if (isOwner(sid)) return ALL;
  const own = S.own[sid];
  const mine = new Set(((own && own.roles) || []).map((r) => r.id));
  let p = DEFAULT;
  for (const r of S.roles[sid] || []) if (mine.has(r.id)) p |= r.permissions;
  return p & P.ADMINISTRATOR ? ALL : p;
}

/** Channel permissions of the caller (§4.1 steps 1-4). */
export function channelPerms(sid, cid) {
  const base = serverPerms(sid);
  if (base === ALL) return ALL;
  const own = S.own[sid];
  const mine = new Set(((own && own.roles) || []).map((r) => r.id));
  const ovs = S.overrides[cid] || [];
  let p = base;
  const every = ovs.find((o) => o.role_id === sid);
  if (every) p = (p & ~every.deny) | every.allow;
  let allow = 0, deny = 0;
  for (const o of ovs) if (o.role_id && o.role_id !== sid && mine.has(o.role_id)) { allow |= o.allow; deny |= o.deny; }
  p = (p & ~deny) | allow;
  const mineO = ovs.find((o) => S.me && o.user_id === S.me.id);
  if (mineO) p = (p & ~mineO.deny) | mineO.allow;
  return p;
}

export function can(sid, bit, cid) {
  return ((cid ? channelPerms(sid, cid) : serverPerms(sid)) & bit) === bit;
}

export function owner(sid) { return isOwner(sid); }

/** The caller's highest role position in a server (-1 with no role). */
export function topPosition(sid) {
  const own = S.own[sid];
  const roles = (own && own.roles) || [];
  return roles.length ? Math.max(...roles.map((r) => r.position)) : -1;
}
