"""Recover the client's close code, which hypercorn and quart-trio drop (API.md §6.5).

§6.5 discards a session at once when the *client* closes with 1000, and holds it for a
resume otherwise. hypercorn 0.18 reports every client-initiated close to the app as
1006 (it computes the ``websocket.disconnect`` code from its own state), and quart-trio
0.12 ignores the disconnect event's code anyway, cancelling the handler instead.

So once a WebSocket is accepted we wrap its wsproto connection's ``events`` generator
(per connection, after hypercorn's own ``_accept`` ran) to note the code of the peer's
close frame in the ASGI scope, which the handler can read as
``websocket.scope[PEER_CLOSE_KEY]``. Nothing else about hypercorn changes; if its
internals differ from what we expect, the shim stays off and every client close counts
as "not 1000" (the session is held), which is the safe side.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

log = logging.getLogger(__name__)

PEER_CLOSE_KEY = "together.peer_close_code"
_installed = False


def install() -> bool:
    """Install the shim once per process; returns whether it is active."""
    global _installed
    if _installed:
        return True
    try:
        from hypercorn.protocol.ws_stream import WSStream
        from wsproto.events import CloseConnection
    except ImportError:  # pragma: no cover - another server
        return False
    original = getattr(WSStream, "_accept", None)
    if original is None:  # pragma: no cover - hypercorn changed
        log.warning("hypercorn WSStream._accept not found: client close codes are not seen")
        return False

    async def _accept(self: Any, message: Any) -> None:
        await original(self, message)
        conn = getattr(self, "connection", None)
        scope = getattr(self, "scope", None)
        if conn is None or not isinstance(scope, dict):
            return
        events = conn.events

        def tracking() -> Generator[Any, None, None]:
            for event in events():
                if isinstance(event, CloseConnection):
                    scope.setdefault(PEER_CLOSE_KEY, event.code)
                yield event

        conn.events = tracking

    WSStream._accept = _accept  # type: ignore[method-assign]
    _installed = True
    return True
