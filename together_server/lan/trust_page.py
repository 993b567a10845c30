"""The plain-HTTP page at ``http://<host>:<port+1>/`` that tells a guest how to trust our CA
(issue 14): Windows, macOS, Linux, Android, iOS, and Firefox's own store."""

from __future__ import annotations

from html import escape

_STEPS = """
<h2 id="windows">Windows (Edge, Chrome)</h2>
<ol><li>Download <a href="/ca.crt">the certificate</a> and open it.</li>
<li><b>Install Certificate…</b> → <b>Current User</b> → <b>Place all certificates in the following
store</b> → <b>Browse…</b> → <b>Trusted Root Certification Authorities</b> → <b>Next</b> → <b>Finish</b>,
then <b>Yes</b> on the security warning.</li><li>Restart the browser.</li></ol>
<h2 id="macos">macOS (Safari, Chrome)</h2>
<ol><li>Download <a href="/ca.crt">the certificate</a> and open it: Keychain Access adds it to the
<i>login</i> keychain.</li>
<li>Double-click <b>together-server LAN CA</b> → <b>Trust</b> → <b>When using this certificate: Always
Trust</b>, close the window and confirm with your password.</li></ol>
<h2 id="linux">Linux</h2>
<ol><li>System store (curl, Chrome on most distributions):<br>
Debian/Ubuntu: <code>sudo cp together-ca.crt /usr/local/share/ca-certificates/ &amp;&amp; sudo update-ca-certificates</code><br>
Fedora: <code>sudo cp together-ca.crt /etc/pki/ca-trust/source/anchors/ &amp;&amp; sudo update-ca-trust</code></li>
<li>Chrome/Chromium: <code>chrome://settings/certificates</code> → <b>Authorities</b> → <b>Import</b>, tick
<b>Trust this certificate for identifying websites</b> (or
<code>certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n together-ca -i together-ca.crt</code>).</li></ol>
<h2 id="firefox">Firefox (every system)</h2>
<ol><li>Settings → <b>Privacy &amp; Security</b> → <b>Certificates</b> → <b>View Certificates…</b> →
<b>Authorities</b> → <b>Import…</b>, pick the file, tick <b>Trust this CA to identify websites</b>.</li></ol>
<h2 id="android">Android</h2>
<ol><li>Download <a href="/ca.crt">the certificate</a>.</li>
<li>Settings → <b>Security</b> (or <i>Security &amp; privacy</i>) → <b>More security settings</b> →
<b>Encryption &amp; credentials</b> → <b>Install a certificate</b> → <b>CA certificate</b> →
<b>Install anyway</b>, then pick <i>together-ca.crt</i> from Downloads.</li>
<li>Chrome on Android trusts it at once.</li></ol>
<h2 id="ios">iPhone and iPad</h2>
<ol><li>Open <a href="/ca.crt">the certificate</a> in <b>Safari</b> and tap <b>Allow</b> (a profile is
downloaded).</li>
<li>Settings → <b>General</b> → <b>VPN &amp; Device Management</b> → the profile → <b>Install</b>.</li>
<li>Settings → <b>General</b> → <b>About</b> → <b>Certificate Trust Settings</b> → turn on
<b>together-server LAN CA</b>.</li></ol>
"""

_CSS = ("body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}"
        "code{background:#8882;padding:0 .2em;word-break:break-all}"
        ".fp{font-family:monospace;word-break:break-all}@media(prefers-color-scheme:dark)"
        "{body{background:#15171a;color:#e6e6e6}a{color:#8ab4ff}}")


def render(urls: list[str], ca_fingerprint: str) -> bytes:
    """The page as UTF-8 HTML: the app's HTTPS URLs, the CA's fingerprint, the steps."""
    links = "".join(f'<li><a href="{escape(u)}">{escape(u)}</a></li>' for u in urls)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Trust this together-server</title><style>{_CSS}</style></head><body>
<h1>Join the chat on this network</h1>
<p>This server speaks HTTPS with a certificate made by its own certificate authority (CA). Trust
the CA once on each device and your browser opens the chat with a padlock — and lets you use your
microphone and camera for voice.</p>
<p><a href="/ca.crt"><b>Download the CA certificate</b></a> (PEM; <a href="/ca.der">DER</a> for
tools that want it). Check that its SHA-256 fingerprint is</p>
<p class="fp">{escape(ca_fingerprint)}</p>
<p>Then open:</p><ul>{links}</ul>
{_STEPS}
<h2>After the party</h2>
<p>A trusted CA can vouch for any site. Remove <b>together-server LAN CA</b> from the same place
when you no longer use this server.</p>
</body></html>
""".encode()
