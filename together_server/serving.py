"""Guards around hypercorn that keep one bad connection from hurting the server.

1. **One connection's error stays in that connection.** hypercorn runs every TCP
   connection in the same nursery as its listeners, so an exception escaping one
   connection task (seen: h11 ``LocalProtocolError`` when a client sends bytes right
   behind a WebSocket upgrade request and two answers collide) cancelled the whole
   server. :func:`install` wraps ``TCPServer.run`` so such an error is logged and only
   that connection is closed. Cancellation still propagates.
2. **No buffering after a WebSocket close.** Once the server has sent a close frame
   (1009 for an oversized frame, 4008, ...), hypercorn kept feeding incoming bytes to
   wsproto, which buffered a client's endless frame without bound. After 64 KiB more
   the connection is now dropped instead.

Both are process-wide patches of hypercorn 0.18 internals; if those internals are not
what we expect the patches stay off and a warning is logged.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)

AFTER_CLOSE_LIMIT = 65_536  # bytes accepted after our close frame (the peer's close)
_installed = False


def install() -> None:
    """Apply both guards once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    _isolate_connections()
    _cap_after_close()


def _isolate_connections() -> None:
    try:
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:  # pragma: no cover - hypercorn changed
        log.warning("hypercorn TCPServer not found: connection errors are not isolated")
        return
    original = TCPServer.run

    async def run(self: Any) -> None:
        try:
            await original(self)
        except* Exception as group:
            # protocol-level trouble a client can cause at will: one line, no traceback
            log.info("client connection closed after an error: %r", group.exceptions[0])
            with contextlib.suppress(Exception):
                await self.stream.aclose()

    TCPServer.run = run  # type: ignore[method-assign]


def _cap_after_close() -> None:
    try:
        from hypercorn.protocol.events import Body, Data, StreamClosed
        from hypercorn.protocol.ws_stream import WSStream
        from wsproto.connection import ConnectionState
    except ImportError:  # pragma: no cover
        log.warning("hypercorn WSStream not found: data after a close is not capped")
        return
    original = WSStream.handle
    closing = {ConnectionState.LOCAL_CLOSING, ConnectionState.CLOSED}

    async def handle(self: Any, event: Any) -> None:
        conn = getattr(self, "connection", None)
        if isinstance(event, (Body, Data)) and conn is not None and conn.state in closing:
            seen = getattr(self, "_together_after_close", 0) + len(event.data)
            self._together_after_close = seen
            if seen > AFTER_CLOSE_LIMIT:
                self.closed = True
                await self.send(StreamClosed(stream_id=self.stream_id))
                return
        await original(self, event)

    WSStream.handle = handle  # type: ignore[method-assign]
