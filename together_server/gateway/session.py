"""One gateway connection: the only gateway module that touches a socket (STYLE.md §7).

:func:`serve_connection` runs one accepted WebSocket attached to a hub session, in one
nursery: a send loop (READY or the resume preamble, then the bounded queue), a receive
loop (limits of §6.8, then the client ops of §6.3), and an idle watchdog. It returns
after the server closed the socket (the close code comes from whoever asked:
slow reader 4008, idle 4009, oversized frame 1009, revocation 4001, resumed elsewhere
4002, shutdown 1001, internal error 1011); when the peer goes away first, quart-trio
cancels it and the session is detached according to the peer's close code.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import trio

from ..clock import now_ts
from ..errors import ApiError
from ..storage import ready as ready_store
from ..storage import voice as voice_store
from ..storage.db import Event
from ..storage.health import is_refusal
from .compat import PEER_CLOSE_KEY, SEND_MANY_KEY, SendMany
from .hub import Hub
from .live import Attachment, Session, frame_of
from .protocol import (
    CLOSE_IDLE,
    CLOSE_INTERNAL,
    CLOSE_SLOW_READER,
    CLOSE_TOO_BIG,
    HEARTBEAT_ACK_FRAME,
    Heartbeat,
    PresenceOp,
    RollingWindow,
    TypingOp,
    VoiceSignalOp,
    dispatch_frame,
    encode,
    frame_too_big,
    parse_client_frame,
)

log = logging.getLogger(__name__)

CLOSE_GRACE = 5.0  # seconds to get a close frame out before giving up on the socket


class Socket(Protocol):
    """What we need of quart's websocket object."""

    scope: Any

    async def send(self, data: str) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def close(self, code: int, reason: str = "") -> None: ...


class _Connection:
    def __init__(self, ws: Socket, st: Any, session: Session, attachment: Attachment) -> None:
        self.ws = ws
        self.st = st
        self.hub: Hub = st.hub
        self.cfg = st.config.gateway
        self.session = session
        self.attachment = attachment
        self.last_frame = trio.current_time()
        scope = getattr(ws, "scope", None) or {}
        self.send_many: SendMany | None = scope.get(SEND_MANY_KEY)

    def close(self, code: int, reason: str = "") -> None:
        if self.session.attachment is self.attachment:
            self.hub.close(self.session, code, reason)
        else:
            self.attachment.request_close(code, reason)

    # -- sending -------------------------------------------------------------------------

    async def _send_frames(self, frames: list[str]) -> None:
        """Write frames in order: in one socket write when the batching shim is on."""
        if self.send_many is not None:
            await self.send_many(frames)
        else:
            for frame in frames:
                await self.ws.send(frame)

    async def send_loop(self, preamble: list[str] | None) -> None:
        send = self._send_frames
        if preamble is None:
            await self.hub.presence_flushed(self.session)
            try:
                body = await self.st.db.read(ready_store.build_ready, self.session.user_id, self.hub.is_online)
            except Exception:
                log.exception("READY could not be built")
                self.close(CLOSE_INTERNAL, "READY could not be built")
                self.hub.discard(self.session)
                return
            d = {"session_id": self.session.session_id,
                 "heartbeat_interval": self.cfg.heartbeat_interval_ms, **body}
            await send([dispatch_frame("READY", 1, encode(d))])
        elif preamble:
            await send(preamble)
        take = self.attachment.take
        while True:
            items = await take()
            if not items:
                return  # closing
            await send([frame_of(item) for item in items])

    # -- receiving ----------------------------------------------------------------------

    async def receive_loop(self) -> None:
        rate = RollingWindow(self.cfg.max_frames_per_second, 1.0)
        max_bytes = self.cfg.max_frame_bytes
        while True:
            message = await self.ws.receive()
            now = self.last_frame = trio.current_time()
            if not isinstance(message, str):
                continue  # binary frames are ignored (§6.1)
            if frame_too_big(message, max_bytes):
                self.close(CLOSE_TOO_BIG, "frame too large")
                return
            if not rate.allow(now):
                continue
            op = parse_client_frame(message)
            if op is not None:
                await self.handle(op)

    async def handle(self, op: Heartbeat | PresenceOp | TypingOp | VoiceSignalOp) -> None:
        s, hub, db = self.session, self.hub, self.st.db
        if isinstance(op, Heartbeat):
            if not self.attachment.push(HEARTBEAT_ACK_FRAME):
                self.close(CLOSE_SLOW_READER, "outgoing queue full")
        elif isinstance(op, PresenceOp):
            if hub.allow_presence(s.user_id):
                online = hub.is_online(s.user_id)
                try:
                    await db.write(lambda tx: ready_store.set_presence(
                        tx, s.user_id, op.status, op.custom_status, op.activity, online, s.session_id))
                except ApiError as exc:  # disk full or outside lock: dropped (storage logs it once)
                    if not is_refusal(exc):
                        raise
        elif isinstance(op, TypingOp):
            if hub.allow_typing(s.user_id, op.channel_id):
                found = await db.read(ready_store.typing_target, op.channel_id, s.user_id, now_ts())
                if found is None:
                    hub.release_typing(s.user_id, op.channel_id)
                else:
                    hub.publish([Event("TYPING_START", found[0], found[1])])
        elif isinstance(op, VoiceSignalOp):
            target = await db.read(voice_store.signal_target, s.user_id, s.session_id, op.to_user_id)
            if target is not None:
                hub.deliver_to(target, "VOICE_SIGNAL", op.payload(s.user_id))

    async def watchdog(self) -> None:
        idle = self.cfg.idle_timeout
        while True:
            deadline = self.last_frame + idle
            if trio.current_time() >= deadline:
                self.close(CLOSE_IDLE, "idle timeout")
                return
            await trio.sleep_until(deadline)


async def serve_connection(
    ws: Socket, st: Any, session: Session, attachment: Attachment, preamble: list[str] | None
) -> None:
    """Serve one accepted socket attached to ``session`` until it closes (see module doc).

    ``preamble``: None for a fresh session (READY is built and sent as ``s`` 1), else
    the replayed frames and RESUMED. Never raises for a peer that vanished.
    """
    conn = _Connection(ws, st, session, attachment)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(conn.send_loop, preamble)
            nursery.start_soon(conn.receive_loop)
            nursery.start_soon(conn.watchdog)
            await attachment.closed.wait()
            nursery.cancel_scope.cancel()
    except Exception:
        log.exception("gateway connection failed")
        conn.close(CLOSE_INTERNAL, "internal error")
    finally:
        if attachment.close_code is None:  # the peer went away (we are being cancelled)
            scope = getattr(ws, "scope", None) or {}
            st.hub.connection_lost(session, attachment, scope.get(PEER_CLOSE_KEY))
    with trio.move_on_after(CLOSE_GRACE):
        try:
            await ws.close(attachment.close_code or CLOSE_INTERNAL, attachment.close_reason)
        except Exception:  # noqa: BLE001 - the peer is gone; nothing left to tell it
            pass
