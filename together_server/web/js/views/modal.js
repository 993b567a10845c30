// Dialogs: one at a time, `openModal(kind, props)`. Escape or the close button closes;
// focus moves into the dialog and back.

import { html, useEffect, useRef } from "../html.js";
import { S, changed } from "../store.js";
import { Settings } from "./settings.js";
import { ServerSettings } from "./server_settings.js";
import { LanInvite } from "../lan.js";

export function openModal(kind, props = {}) { S.modal = { kind, props, from: document.activeElement }; changed(); }
export function closeModal() {
  const from = S.modal && S.modal.from;
  S.modal = null;
  changed();
  if (from && from.focus) setTimeout(() => from.focus(), 0);
}

export function Dialog({ title, children, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    const first = el && (el.querySelector("input, textarea, select, button:not(.close), a[href]") || el.querySelector("button"));
    if (first) first.focus();
    const esc = (e) => { if (e.key === "Escape") { e.preventDefault(); closeModal(); } };
    document.addEventListener("keydown", esc);
    return () => document.removeEventListener("keydown", esc);
  }, []);
  return html`<div class="backdrop" onClick=${(e) => { if (e.target === e.currentTarget) closeModal(); }}>
    <div class=${"dialog" + (wide ? " wide" : "")} role="dialog" aria-modal="true" aria-label=${title} ref=${ref}>
      <header><h2>${title}</h2><button class="close icon" aria-label="Close" onClick=${closeModal}>✕</button></header>
      <div class="dialog-body">${children}</div>
    </div>
  </div>`;
}

/** A small form: fields [{name, label, value, type, options}] -> onSubmit(values) (may throw). */
function Prompt({ title, fields, submit, onSubmit, danger, text }) {
  const err = useRef(null);
  async function go(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    const values = {};
    for (const fl of fields || []) values[fl.name] = fl.type === "checkbox" ? f.get(fl.name) === "on" : f.get(fl.name);
    try { await onSubmit(values); closeModal(); } catch (ex) {
      if (err.current) err.current.textContent = ex.message + (ex.errors ? " (" + Object.values(ex.errors).join("; ") + ")" : "");
    }
  }
  return html`<${Dialog} title=${title}>
    <form onSubmit=${go} class="form">
      ${text && html`<p>${text}</p>`}
      ${(fields || []).map((fl) => fl.type === "checkbox"
        ? html`<label class="check"><input type="checkbox" name=${fl.name} checked=${!!fl.value} /> ${fl.label}</label>`
        : fl.type === "select"
          ? html`<label>${fl.label}<select name=${fl.name} aria-label=${fl.label}>${fl.options.map(([v, l]) => html`<option value=${v} selected=${v === fl.value}>${l}</option>`)}</select></label>`
          : html`<label>${fl.label}<input name=${fl.name} type=${fl.type || "text"} value=${fl.value || ""} required=${!!fl.required} maxlength=${fl.max || 4000} /></label>`)}
      <p class="error" role="alert" ref=${err}></p>
      <div class="row end"><button type="button" onClick=${closeModal}>Cancel</button>
        <button type="submit" class=${danger ? "danger" : "primary"}>${submit || "Save"}</button></div>
    </form>
  <//>`;
}

function ImageView({ src, name }) {
  return html`<${Dialog} title=${name || "Image"} wide=${true}>
    <img class="enlarged" src=${src} alt=${name || "image"} />
    <p><a href=${src} download=${name || ""}>Download</a></p>
  <//>`;
}

const KINDS = { prompt: Prompt, settings: Settings, serverSettings: ServerSettings, lan: LanInvite, image: ImageView };

export function Modals() {
  if (!S.modal) return null;
  const C = KINDS[S.modal.kind];
  return C ? html`<${C} ...${S.modal.props} />` : null;
}
