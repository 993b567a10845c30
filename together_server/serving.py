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

3. **Connection-level work survives the request task** (issue 15 part 3). hypercorn
   closes a ``Connection: close`` connection and (re)starts the keep-alive timer from
   inside the ASGI app's send call; quart-trio cancels that task's nursery as soon as
   the response is out (``handle_messages`` sees ``http.disconnect`` and cancels), so the
   close and the timer were cancelled half-way: sockets stayed open forever. Both now
   run shielded.
4. **Slow bodies are cut.** A request body must arrive within
   ``server.body_timeout_seconds`` plus one second per ``server.body_min_bytes_per_second``
   bytes received (Apache mod_reqtimeout's rule): else ``408 request_timeout`` and close.
   (A request's headers must arrive within the keep-alive timeout, hypercorn's own rule.)
5. **Shutdown answers instead of dropping.** While the daemon drains, kept-alive
   connections stay open and their requests get ``503`` with ``Connection: close`` from
   the app; they are closed once the drain ends (``Config.together_drained``), not at the
   first instant of shutdown.

All are process-wide patches of hypercorn 0.18 internals; per-daemon values travel on the
hypercorn ``Config`` (``together_body_timeout``, ``together_body_min_rate``,
``together_drained``). If those internals are not what we expect the patches stay off and
a warning is logged.
"""

from __future__ import annotations

import contextlib
import logging
from math import inf
from typing import Any

import orjson
import trio

from .connections import Throttled
from .errors import error_body

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
    _shield_connection_events()
    _recycle_until_drained()
    _cut_slow_bodies()


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


def _shield_connection_events() -> None:
    try:
        from hypercorn.events import Closed, Updated
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:  # pragma: no cover
        log.warning("hypercorn TCPServer not found: Connection: close and keep-alive may not close")
        return
    original = TCPServer.protocol_send

    async def protocol_send(self: Any, event: Any) -> None:
        if isinstance(event, (Closed, Updated)):
            # may run inside the app's request task, which quart-trio cancels once the
            # response is sent: closing the socket / arming the keep-alive timer must not
            # be cancelled half-way (both are quick)
            with trio.CancelScope(shield=True):
                await original(self, event)
        else:
            await original(self, event)

    TCPServer.protocol_send = protocol_send  # type: ignore[method-assign]


def _recycle_until_drained() -> None:
    try:
        import h11
        from hypercorn.events import Closed, Updated
        from hypercorn.protocol.h11 import H11Protocol
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:  # pragma: no cover
        log.warning("hypercorn H11Protocol not found: requests during shutdown may be dropped")
        return

    async def _maybe_recycle(self: Any) -> None:
        # hypercorn's, without "close at once when terminated": the app answers 503 with
        # Connection: close during the drain, which closes the connection after it
        await self._close_stream()
        if self.connection.our_state is h11.DONE and self.connection.their_state is h11.DONE:
            try:
                self.connection.start_next_cycle()
            except h11.LocalProtocolError:
                await self.send(Closed())
            else:
                self.response = None
                self.scope = None
                await self.can_read.set()
                await self.send(Updated(idle=True))
        else:
            await self.can_read.set()
            await self.send(Closed())

    async def _idle_timeout(self: Any) -> None:
        drained = getattr(self.config, "together_drained", None)
        if drained is None:
            drained = self.context.terminated
        with trio.move_on_after(self.config.keep_alive_timeout):
            await drained.wait()
        with trio.CancelScope(shield=True):
            await self._initiate_server_close()

    H11Protocol._maybe_recycle = _maybe_recycle  # type: ignore[method-assign]
    TCPServer._idle_timeout = _idle_timeout  # type: ignore[method-assign]


_slow_log = Throttled(log)


def _cut_slow_bodies() -> None:
    try:
        from hypercorn.protocol.events import Body, EndBody, Request, Response, StreamClosed
        from hypercorn.protocol.http_stream import ASGIHTTPState, HTTPStream
        from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
    except ImportError:  # pragma: no cover
        log.warning("hypercorn HTTPStream not found: slow request bodies are not timed out")
        return
    original_handle = HTTPStream.handle
    original_app_send = HTTPStream.app_send

    async def handle(self: Any, event: Any) -> None:
        if isinstance(event, Body):
            self._together_received += len(event.data)
        elif isinstance(event, Request):
            self._together_since = trio.current_time()  # headers complete: the body may start
            self._together_received = 0
        elif isinstance(event, (EndBody, StreamClosed)):
            self._together_since = None
        await original_handle(self, event)

    async def app_send(self: Any, message: Any) -> None:
        if message is not None and (self.closed or getattr(self, "_together_cut", False)):
            return  # the stream was cut (408) or the client went away: nothing to send
        await original_app_send(self, message)

    def streams(server: Any) -> list[Any]:
        proto = getattr(getattr(server, "protocol", None), "protocol", None)
        if proto is None:
            return []
        many = getattr(proto, "streams", None)  # HTTP/2
        if many is not None:
            return [s for s in many.values() if isinstance(s, HTTPStream)]
        one = getattr(proto, "stream", None)
        return [one] if isinstance(one, HTTPStream) else []

    def deadline_of(stream: Any, timeout: float, rate: float) -> float:
        since = getattr(stream, "_together_since", None)
        if since is None or stream.closed:
            return inf
        return since + timeout + (stream._together_received / rate if rate > 0 else 0.0)

    async def cut(server: Any, stream: Any) -> None:
        stream._together_since = None
        _slow_log.warning("closed a connection from %s: request body too slow (server.body_timeout_seconds)",
                          (stream.client or ("?",))[0])
        if stream.state != ASGIHTTPState.REQUEST:  # the app already answers: just close
            await server.protocol.handle(Closed())
            await server.stream.aclose()
            return
        stream._together_cut = True
        body = orjson.dumps(error_body("request_timeout", "The request body did not arrive in time"))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if stream.scope.get("http_version", "1.1") in ("1.0", "1.1"):
            headers.append((b"connection", b"close"))
        stream.state = ASGIHTTPState.CLOSED
        await stream.send(Response(stream_id=stream.stream_id, headers=headers, status_code=408))
        await stream.send(Body(stream_id=stream.stream_id, data=body))
        await stream.send(EndBody(stream_id=stream.stream_id))
        await stream.send(StreamClosed(stream_id=stream.stream_id))

    from hypercorn.events import Closed, RawData

    async def _read_data(self: Any) -> None:
        timeout = getattr(self.config, "together_body_timeout", None)
        rate = getattr(self.config, "together_body_min_rate", 0.0)
        while True:
            now = trio.current_time()
            read_by = now + (self.config.read_timeout or inf)
            body_by = inf
            if timeout is not None:
                body_by = min((deadline_of(s, timeout, rate) for s in streams(self)), default=inf)
            try:
                with trio.move_on_at(min(read_by, body_by)) as scope:
                    data = await self.stream.receive_some(MAX_RECV)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                break
            if scope.cancelled_caught:
                if trio.current_time() < body_by:
                    break  # hypercorn's read_timeout
                for s in streams(self):
                    if deadline_of(s, timeout, rate) <= trio.current_time():
                        await cut(self, s)
                continue
            await self.protocol.handle(RawData(bytes(data)))
            if data == b"":
                break
        await self.protocol.handle(Closed())
        # the peer is gone: hypercorn kept the connection (and its descriptor) until the
        # keep-alive timer fired; a request being answered still finishes
        await self.idle_task.stop()

    HTTPStream.handle = handle  # type: ignore[method-assign]
    HTTPStream.app_send = app_send  # type: ignore[method-assign]
    TCPServer._read_data = _read_data  # type: ignore[method-assign]
