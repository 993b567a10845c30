"""Two shims over hypercorn's WebSocket stream: the client's close code, and batched writes.

**Close code** (API.md §6.5).
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

**Batched writes** (issue 15 §1). Through quart, every text frame is one ASGI
``websocket.send`` message, one wsproto encode and one socket write. A session with
several dispatches waiting (a presence burst, a replay) should pay one write for all of
them: the same accept wrapper puts :func:`send_many` for that stream in the scope as
``scope[SEND_MANY_KEY]`` — an ``async (frames: list[str]) -> None`` that encodes each
frame as hypercorn would and writes them in one ``Data`` event. It holds the stream
weakly (no reference cycle per connection). Without the shim the caller sends frame by
frame through quart.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Generator
from typing import Any

log = logging.getLogger(__name__)

PEER_CLOSE_KEY = "together.peer_close_code"
SEND_MANY_KEY = "together.send_many"
SendMany = Callable[[list[str]], Awaitable[None]]
_installed = False


def install() -> bool:
    """Install the shim once per process; returns whether it is active."""
    global _installed
    if _installed:
        return True
    try:
        from hypercorn.protocol.events import Data
        from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
        from wsproto.events import CloseConnection, TextMessage
        from wsproto.utilities import LocalProtocolError
    except ImportError:  # pragma: no cover - another server
        return False
    original = getattr(WSStream, "_accept", None)
    if original is None:  # pragma: no cover - hypercorn changed
        log.warning("hypercorn WSStream._accept not found: client close codes are not seen")
        return False

    async def send_many(ref: weakref.ref[Any], frames: list[str]) -> None:
        stream = ref()
        if stream is None or stream.closed or stream.state != ASGIWebsocketState.CONNECTED:
            return  # as hypercorn's app_send: nothing is sent after the close
        conn = stream.connection
        try:
            data = b"".join([conn.send(TextMessage(data=frame)) for frame in frames])
        except LocalProtocolError:
            return  # closing: wsproto refuses more data
        await stream.send(Data(stream_id=stream.stream_id, data=data))

    async def _accept(self: Any, message: Any) -> None:
        await original(self, message)
        conn = getattr(self, "connection", None)
        scope = getattr(self, "scope", None)
        if conn is None or not isinstance(scope, dict):
            return
        conn_ref = weakref.ref(conn)
        events = type(conn).events  # unbound: the wrapper must not hold conn (no cycle)

        def tracking() -> Generator[Any, None, None]:
            c = conn_ref()
            if c is None:
                return
            for event in events(c):
                if isinstance(event, CloseConnection):
                    scope.setdefault(PEER_CLOSE_KEY, event.code)
                yield event

        conn.events = tracking
        scope[SEND_MANY_KEY] = functools.partial(send_many, weakref.ref(self))

    WSStream._accept = _accept  # type: ignore[method-assign]
    _installed = True
    return True
