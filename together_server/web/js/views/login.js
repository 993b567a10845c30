// Log in / register. A lost session lands here with its message (never a blank page).

import { html, useState } from "../html.js";
import * as auth from "../api.js";

export function Login({ message }) {
  const [mode, setMode] = useState("login");
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const invite = (location.hash.match(/^#\/invite\/([A-Za-z0-9]+)/) || [])[1];

  async function submit(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    setBusy(true);
    setErr(null);
    try {
      if (mode === "login") await auth.login(f.get("username"), f.get("password"));
      else await auth.register(f.get("username"), f.get("password"), f.get("email"), invite);
    } catch (ex) {
      const detail = ex.errors ? Object.entries(ex.errors).map(([k, v]) => `${k}: ${v}`).join("; ") : "";
      setErr(ex.message + (detail && !ex.message.includes(detail) ? ` (${detail})` : ""));
    } finally { setBusy(false); }
  }

  const reg = mode === "register";
  return html`<main class="login">
    <form class="card" onSubmit=${submit} aria-labelledby="login-title">
      <h1 id="login-title">${reg ? "Create an account" : "Welcome back"}</h1>
      ${invite && html`<p class="hint">Log in or register to accept your invite.</p>`}
      ${message && html`<p class="notice" role="alert">${message}</p>`}
      <label>Username<input name="username" autocomplete="username" required minlength=${reg ? 2 : 1} maxlength=${reg ? 32 : 128} autofocus /></label>
      ${reg && html`<label>Email (optional)<input name="email" type="email" autocomplete="email" /></label>`}
      <label>Password<input name="password" type="password" autocomplete=${reg ? "new-password" : "current-password"} required minlength=${reg ? 8 : 1} maxlength="128" /></label>
      ${err && html`<p class="error" role="alert">${err}</p>`}
      <button type="submit" class="primary" disabled=${busy}>${reg ? "Register" : "Log in"}</button>
      <button type="button" class="link" onClick=${() => { setMode(reg ? "login" : "register"); setErr(null); }}>
        ${reg ? "I have an account: log in" : "No account? Register"}
      </button>
      <p class="hint"><a href="/docs">API documentation</a></p>
    </form>
  </main>`;
}
