"""What ``serve --lan`` prints on the host's terminal (issue 14): every URL, a QR code of
the main one (``segno``, as text), the certificate fingerprints and the trust page."""

from __future__ import annotations

import io

import segno


def qr_text(url: str) -> str:
    """``url`` as a QR code drawn with Unicode half blocks (two modules per character row)."""
    out = io.StringIO()
    segno.make(url, error="m", micro=False).terminal(out=out, compact=True, border=2)
    return out.getvalue()


def banner(urls: list[str], fingerprint: str, trust_url: str | None, ca_fingerprint: str | None) -> str:
    """The block printed at start and after every certificate renewal."""
    lines = ["", "together-server is on your network. People can open:"]
    lines += [f"  {u}" for u in urls]
    text = "\n".join(lines) + "\n"
    if urls:
        text += f"\nScan to join ({urls[0]}):\n" + qr_text(urls[0])
    text += f"\nCertificate SHA-256: {fingerprint}\n"
    if trust_url:
        text += (
            f"First visit from a device? Trust this server's certificate authority once: {trust_url}\n"
            f"  (CA SHA-256: {ca_fingerprint})\n"
        )
    return text
