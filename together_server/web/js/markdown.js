// A small safe Markdown subset rendered to vnodes (text nodes only: no user text is ever
// parsed as HTML). Blocks: ``` code fences, > quotes. Inline: `code`, **bold**, *italic* / _italic_,
// ~~strike~~, ||spoiler||, http(s) links (rel="noopener noreferrer"), @mentions.

import { html } from "./html.js";

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+?\*\*)|(~~[^~\n]+?~~)|(\|\|[^|\n]+?\|\|)|(\*[^*\s][^*\n]*?\*|(?<![A-Za-z0-9_])_[^_\s][^_\n]*?_(?![A-Za-z0-9_]))|(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]])|((?<![A-Za-z0-9_-])@[A-Za-z0-9_-]+)/g;

function Spoiler({ children }) {
  const onClick = (e) => e.currentTarget.classList.add("shown");
  return html`<span class="spoiler" role="button" tabindex="0" aria-label="Spoiler, click to show"
    onClick=${onClick} onKeyDown=${(e) => { if (e.key === "Enter") onClick(e); }}>${children}</span>`;
}

export function inline(text, ctx = {}) {
  const out = [];
  let last = 0;
  const re = new RegExp(INLINE.source, "g");  // one per call: the patterns recurse
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const t = m[0];
    if (m[1]) out.push(html`<code>${t.slice(1, -1)}</code>`);
    else if (m[2]) out.push(html`<strong>${inline(t.slice(2, -2), ctx)}</strong>`);
    else if (m[3]) out.push(html`<s>${inline(t.slice(2, -2), ctx)}</s>`);
    else if (m[4]) out.push(html`<${Spoiler}>${inline(t.slice(2, -2), ctx)}<//>`);
    else if (m[5]) out.push(html`<em>${inline(t.slice(1, -1), ctx)}</em>`);
    else if (m[6]) out.push(html`<a href=${t} target="_blank" rel="noopener noreferrer">${t}</a>`);
    else if (m[7]) {
      const name = t.slice(1).replace(/-+$/, "");
      const me = ctx.me && name.toLowerCase() === ctx.me.toLowerCase();
      out.push(html`<span class=${"mention" + (me ? " me" : "")}>${t}</span>`);
    }
    last = m.index + t.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Content -> vnodes. `ctx.me` is the viewer's username (their mentions are highlighted). */
export function render(content, ctx = {}) {
  const blocks = [];
  const parts = content.split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1 && i < parts.length - 1) {
      const body = part.replace(/^[a-z0-9+#-]*\n/i, "");
      blocks.push(html`<pre><code>${body.replace(/\n$/, "")}</code></pre>`);
      return;
    }
    const text = i % 2 === 1 ? "```" + part : part;
    let quote = [];
    const flush = () => { if (quote.length) { blocks.push(html`<blockquote>${lines(quote.join("\n"), ctx)}</blockquote>`); quote = []; } };
    const plain = [];
    const flushPlain = () => { if (plain.length) { blocks.push(html`<span>${lines(plain.join("\n"), ctx)}</span>`); plain.length = 0; } };
    for (const line of text.split("\n")) {
      if (/^> ?/.test(line)) { flushPlain(); quote.push(line.replace(/^> ?/, "")); }
      else { flush(); plain.push(line); }
    }
    flush();
    flushPlain();
  });
  return blocks;
}

function lines(text, ctx) {
  const out = [];
  text.split("\n").forEach((l, i) => { if (i) out.push(html`<br />`); out.push(...inline(l, ctx)); });
  return out;
}

/** A search `highlight` (escaped HTML with <mark>) as text and <mark> vnodes, never parsed as HTML. */
export function highlight(s) {
  const unescape = (t) => t.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'").replace(/&amp;/g, "&");
  return s.split(/(<mark>[\s\S]*?<\/mark>)/).map((piece) => (piece.startsWith("<mark>")
    ? html`<mark>${unescape(piece.slice(6, -7))}</mark>` : unescape(piece)));
}
