// Attachments (issue 10's contract): files chosen before sending go with the message in one
// multipart POST (text parts `content`, `reply_to`; file parts `files`), with upload progress;
// images show as thumbnails (`thumbnail_url`) that enlarge on click, other files as download chips.

import { html, useEffect, useState } from "../html.js";
import { upload } from "../api.js";
import { openModal } from "./modal.js";

/** Post a message with files in one step: POST <path> multipart; resolves to the Message. */
export async function postWithFiles(path, content, replyTo, files, onProgress) {
  const form = new FormData();
  form.append("content", content);
  if (replyTo) form.append("reply_to", replyTo);
  for (const f of files) form.append("files", f, f.name || "pasted.png");
  return upload(path, form, onProgress);
}

function size(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
  return (n / 1048576).toFixed(1) + " MB";
}

function Preview({ file }) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    if (!file.type.startsWith("image/")) return undefined;
    const u = URL.createObjectURL(file);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [file]);
  return url ? html`<img class="thumb small" src=${url} alt="" />` : html`<span class="file-icon" aria-hidden="true">📄</span>`;
}

export function PendingFiles({ files, remove, upload: progress }) {
  if (progress) {
    return html`<div class="pending"><span>Uploading ${progress.names.join(", ")}</span>
      <progress max="1" value=${progress.p} aria-label="Upload progress"></progress></div>`;
  }
  if (!files.length) return null;
  return html`<ul class="pending" aria-label="Files to send">
    ${files.map((f, i) => html`<li key=${i} class="chip"><${Preview} file=${f} /><span class="fname">${f.name || "pasted image"}</span>
      <span class="hint">${size(f.size)}</span>
      <button class="icon small" aria-label=${"Remove " + (f.name || "file")} onClick=${() => remove(i)}>✕</button></li>`)}
  </ul>`;
}

export function Attachments({ m }) {
  const list = m.attachments || [];
  if (!list.length) return null;
  return html`<div class="attachments">
    ${list.map((a) => (a.mime_type || "").startsWith("image/")
      ? html`<button key=${a.id} class="thumb-btn" aria-label=${"Enlarge image " + a.filename}
          onClick=${() => openModal("image", { src: a.url, name: a.filename })}>
          <img class="thumb" src=${a.thumbnail_url || a.url + (a.url.includes("?") ? "&" : "?") + "size=thumb"} alt=${a.filename} loading="lazy"
            width=${a.width && a.height ? Math.min(400, a.width) : null}
            height=${a.width && a.height ? Math.round(Math.min(400, a.width) * a.height / a.width) : null} /></button>`
      : html`<a key=${a.id} class="chip download" href=${a.url} download=${a.filename}>
          <span aria-hidden="true">📄</span><span class="fname">${a.filename}</span><span class="hint">${size(a.file_size)}</span></a>`)}
  </div>`;
}
