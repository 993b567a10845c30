// REST client of the public API (API.md): bearer tokens kept in localStorage, refreshed
// silently before they expire (and once more on a 401 token_expired), one refresh at a time
// across tabs; 429 answers are retried after retry_after. A lost session calls onLoggedOut.

const KEY = "together.auth";
let auth = load();
let refreshing = null;
let timer = null;
const listeners = { loggedOut: [], user: [] };

function load() {
  try { return JSON.parse(localStorage.getItem(KEY)) || null; } catch { return null; }
}
function save() {
  if (auth) localStorage.setItem(KEY, JSON.stringify(auth)); else localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "http_" + status;
    this.errors = (body && body.errors) || null;
    this.body = body || {};
  }
}

export function on(name, fn) { listeners[name].push(fn); }
export function signedIn() { return !!(auth && auth.refresh_token); }
export function currentUser() { return auth && auth.user; }
export function accessToken() { return auth && auth.access_token; }

function tokenExp(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).exp * 1000;
  } catch { return 0; }
}

function adopt(body) {
  auth = { access_token: body.access_token, refresh_token: body.refresh_token, user: body.user,
    exp: tokenExp(body.access_token) };
  save();
  schedule();
  for (const fn of listeners.user) fn(body.user);
}

function schedule() {
  clearTimeout(timer);
  if (!auth) return;
  const wait = Math.max(5000, auth.exp - Date.now() - 60000);
  timer = setTimeout(() => refresh().catch(() => {}), wait);
}

function lostSession(message) {
  auth = null;
  save();
  clearTimeout(timer);
  for (const fn of listeners.loggedOut) fn(message);
}

async function raw(method, path, body, token) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  let payload;
  if (body instanceof FormData || body instanceof Blob) payload = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, { method, headers, body: payload });
    if (r.status === 429 && attempt < 4) {
      let wait = 1;
      try { wait = (await r.json()).retry_after || Number(r.headers.get("Retry-After")) || 1; } catch { /* plain */ }
      await new Promise((res) => setTimeout(res, Math.min(wait, 10) * 1000));
      continue;
    }
    if (r.status === 204 || r.status === 304) return null;
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { message: text } }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }
}

/** Rotate the refresh token (API.md §3.1); a 401 ends the session with a message. */
export function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    const doIt = async () => {
      const stored = load();  // another tab may have rotated it already
      if (stored && auth && stored.refresh_token !== auth.refresh_token && stored.exp > Date.now() + 30000) {
        auth = stored; schedule(); return;
      }
      if (!auth) throw new ApiError(401, { code: "invalid_refresh_token", message: "Signed out" });
      try {
        adopt(await raw("POST", "/auth/refresh", { refresh_token: auth.refresh_token }));
      } catch (e) {
        if (e.code === "refresh_token_rotated") {  // a concurrent refresh won: take its tokens
          await new Promise((res) => setTimeout(res, 500));
          const again = load();
          if (again && again.refresh_token !== auth.refresh_token) { auth = again; schedule(); return; }
        }
        if (e.status === 401) lostSession("Your session has ended. Please log in again.");
        throw e;
      }
    };
    try {
      if (navigator.locks) await navigator.locks.request("together-refresh", doIt);
      else await doIt();
    } finally { refreshing = null; }
  })();
  return refreshing;
}

/** A fresh access token (refreshed first when it expires within 30 s). */
export async function freshToken() {
  if (!auth) throw new ApiError(401, { code: "missing_token", message: "Not signed in" });
  if (auth.exp - Date.now() < 30000) await refresh();
  return auth.access_token;
}

/** One API call: ``api("GET", "/servers")``; throws ApiError with the §1.4 body. */
export async function api(method, path, body) {
  const token = await freshToken();
  try {
    return await raw(method, path, body, token);
  } catch (e) {
    if (e.status === 401 && (e.code === "token_expired" || e.code === "invalid_token")) {
      await refresh();
      return raw(method, path, body, auth.access_token);
    }
    if (e.status === 401 && e.code === "session_revoked") lostSession("You were signed out on this device.");
    throw e;
  }
}

export async function login(username, password) {
  adopt(await raw("POST", "/auth/login", { username, password }));
}

export async function register(username, password, email, invite_code) {
  const body = { username, password };
  if (email) body.email = email;
  if (invite_code) body.invite_code = invite_code;
  adopt(await raw("POST", "/auth/register", body));
}

export async function logout() {
  const token = auth && auth.refresh_token;
  lostSession("");
  if (token) await raw("POST", "/auth/logout", { refresh_token: token }).catch(() => {});
}

/** Upload with progress (XMLHttpRequest: fetch has no upload progress). */
export async function upload(path, formData, onProgress) {
  const token = await freshToken();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = { message: xhr.responseText } }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data); else reject(new ApiError(xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError(0, { message: "Network error", code: "network" }));
    xhr.send(formData);
  });
}

if (auth) schedule();
window.addEventListener("storage", (e) => {
  if (e.key !== KEY) return;
  const next = load();
  if (!next && auth) lostSession("You logged out in another tab.");
  else if (next) { auth = next; schedule(); }
});
