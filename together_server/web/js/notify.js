// Browser notifications for mentions and DMs while the tab is hidden (opt-in, asked once),
// and the unread count in the tab title.

import { S, nameOf, channelById } from "./store.js";

const KEY = "together.notify";

export function notifyState() {
  if (!("Notification" in window)) return "unsupported";
  if (localStorage.getItem(KEY) !== "on") return "off";
  return Notification.permission === "granted" ? "on" : Notification.permission;
}

/** Ask for permission once, when the user opts in. */
export async function enableNotifications() {
  if (!("Notification" in window)) return "unsupported";
  localStorage.setItem(KEY, "on");
  const p = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
  return p;
}

export function disableNotifications() { localStorage.setItem(KEY, "off"); }

export function notifyMessage(cid, m, isDm) {
  if (document.visibilityState === "visible" || notifyState() !== "on") return;
  const where = isDm ? "Direct message" : "#" + ((channelById(cid) || {}).name || "channel");
  try {
    const n = new Notification(`${nameOf(m.author_id)} (${where})`, { body: m.content.slice(0, 200), tag: m.id });
    n.onclick = () => { window.focus(); location.hash = isDm ? `#/dm/${cid}` : `#/channels/${channelById(cid).server_id}/${cid}`; };
  } catch { /* some browsers refuse outside a service worker */ }
}

/** "(3) Together": the number of channels and DMs with unread messages. */
export function updateTitle() {
  let n = 0;
  for (const cid in S.unread) if (S.unread[cid] > 0) n += S.unread[cid];
  const base = "Together";
  const title = n > 0 ? `(${n > 999 ? "999+" : n}) ${base}` : base;
  if (document.title !== title) document.title = title;
}
