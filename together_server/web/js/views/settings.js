// Your settings: profile, status and custom status, password, notifications, log out (here
// or everywhere).

import { html, useState } from "../html.js";
import { api, logout } from "../api.js";
import { S, changed, toast } from "../store.js";
import { errText } from "../actions.js";
import { notifyState, enableNotifications, disableNotifications } from "../notify.js";
import { Dialog, closeModal, openModal } from "./modal.js";

const STATUSES = [["online", "Online"], ["away", "Idle"], ["dnd", "Do not disturb"], ["offline", "Invisible"]];

export function Settings() {
  const me = S.me;
  const [msg, setMsg] = useState(null);
  const [notif, setNotif] = useState(notifyState());

  async function saveProfile(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const body = {};
      for (const k of ["status", "custom_status", "bio", "pronouns", "avatar_url"]) body[k] = f.get(k) || (k === "status" ? "online" : "");
      S.me = await api("PATCH", "/users/@me", body);
      changed();
      setMsg({ ok: "Saved." });
    } catch (ex) { setMsg({ err: errText(ex) }); }
  }

  async function changePassword(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api("POST", "/users/@me/password", { current_password: f.get("current"), new_password: f.get("next") });
      e.target.reset();
      setMsg({ ok: "Password changed. Your other devices were logged out." });
    } catch (ex) { setMsg({ err: errText(ex) }); }
  }

  function everywhere() {
    // the API ends every other login session on a password change (API.md §3.2); this one
    // then logs out too, so every session of the account has ended
    openModal("prompt", {
      title: "Log out everywhere", submit: "Log out everywhere", danger: true,
      text: "This ends every login session of your account, this one included.",
      fields: [{ name: "password", label: "Your password", type: "password", required: true }],
      onSubmit: async (v) => {
        await api("POST", "/users/@me/password", { current_password: v.password, new_password: v.password });
        await logout();
      },
    });
  }

  async function toggleNotif() {
    if (notif === "on") { disableNotifications(); setNotif("off"); return; }
    const p = await enableNotifications();
    setNotif(notifyState());
    if (p !== "granted") toast("The browser did not allow notifications.");
  }

  const theme = localStorage.getItem("together.theme") || "system";
  const setTheme = (v) => { localStorage.setItem("together.theme", v); document.documentElement.dataset.theme = v; changed(); };

  return html`<${Dialog} title="Your settings" wide=${true}>
    ${msg && html`<p class=${msg.err ? "error" : "ok"} role="status">${msg.err || msg.ok}</p>`}
    <form class="form" onSubmit=${saveProfile} aria-label="Profile">
      <h3>Profile — ${me.username}</h3>
      <label>Status<select aria-label="Status" name="status">${STATUSES.map(([v, l]) => html`<option value=${v} selected=${(me.chosen_status || "online") === v}>${l}</option>`)}</select></label>
      <label>Custom status<input name="custom_status" maxlength="128" value=${me.custom_status || ""} /></label>
      <label>Pronouns<input name="pronouns" maxlength="40" value=${me.pronouns || ""} /></label>
      <label>About me<textarea name="bio" maxlength="500" value=${me.bio || ""}></textarea></label>
      <label>Avatar URL<input name="avatar_url" type="url" value=${me.avatar_url || ""} /></label>
      <div class="row end"><button class="primary" type="submit">Save profile</button></div>
    </form>
    <form class="form" onSubmit=${changePassword} aria-label="Password">
      <h3>Password</h3>
      <label>Current password<input name="current" type="password" autocomplete="current-password" required /></label>
      <label>New password<input name="next" type="password" autocomplete="new-password" minlength="8" maxlength="128" required /></label>
      <div class="row end"><button type="submit">Change password</button></div>
    </form>
    <div class="form">
      <h3>This browser</h3>
      <label>Theme<select aria-label="Theme" onChange=${(e) => setTheme(e.target.value)}>
        ${[["system", "Follow the system"], ["light", "Light"], ["dark", "Dark"]].map(([v, l]) => html`<option value=${v} selected=${theme === v}>${l}</option>`)}
      </select></label>
      <div class="row"><button onClick=${toggleNotif} aria-pressed=${notif === "on" ? "true" : "false"}>
        ${notif === "on" ? "Turn off notifications" : "Notify me of mentions and DMs"}</button>
        ${notif === "unsupported" && html`<span class="hint">This browser has no notifications.</span>`}</div>
      <div class="row"><button onClick=${() => { closeModal(); logout(); }}>Log out</button>
        <button class="danger" onClick=${everywhere}>Log out everywhere</button></div>
    </div>
  <//>`;
}
