"""LAN party mode (issue 14): HTTPS with our own CA, mDNS/DNS-SD, URLs + QR in the terminal.

- :mod:`.addresses` lists the machine's addresses and the URLs people can use;
- :mod:`.certs` creates the certificate authority and the server certificate (``cryptography``);
- :mod:`.tls` builds the reloadable TLS context and the listening sockets for hypercorn;
- :mod:`.plainhttp` answers plain HTTP: the redirect on the HTTPS port, the CA page on port+1;
- :mod:`.mdns` announces the server (``zeroconf``) and finds others (``together-server discover``);
- :mod:`.banner` prints the URLs, the QR code (``segno``) and the fingerprints;
- :mod:`.runtime` wires it together for ``daemon.py`` and keeps the certificate fresh.

Without ``--lan`` / ``[server] lan`` nothing here runs, except :mod:`.tls` when the operator
gives ``[server] tls_cert`` / ``tls_key``.
"""
