"""In-memory gateway session state (API.md §6.5): no sockets, no SQL.

A :class:`Session` outlives its sockets: it keeps its sequence counter and a bounded
replay buffer of encoded dispatch frames, and is attached to at most one
:class:`Attachment` (one socket's bounded outgoing queue) at a time. While detached it
is *held* and keeps recording what is meant for it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from .protocol import CLOSE_SLOW_READER, dispatch_frame

if TYPE_CHECKING:
    from .hub import Hub

# A queued dispatch (s, t, encoded d), or a frame already complete.
Dispatch = tuple[int, str, str]
Item = Dispatch | str


def frame_of(item: Item) -> str:
    """The text frame for a queued item (the envelope spliced around a shared ``d``)."""
    return item if isinstance(item, str) else dispatch_frame(item[1], item[0], item[2])


class Attachment:
    """One socket's side of a session: a bounded queue of frames and a close request.

    Items are ``(s, t, d)`` with ``d`` shared by every receiver of the event (the frame
    is spliced by the send task), or a ready-made frame string (HEARTBEAT_ACK).
    ``push`` never blocks (STYLE.md §6): it returns False when the queue is full.
    ``request_close`` records the close code once, drops the queued frames (so a
    stalled reader holds no backlog) and wakes the connection task, which closes the
    socket with that code.
    """

    __slots__ = ("_send", "receive", "close_code", "close_reason", "closed")

    def __init__(self, size: int) -> None:
        self._send, self.receive = trio.open_memory_channel[Item](size)
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = trio.Event()

    def push(self, item: Item) -> bool:
        """Queue ``item``; False when the queue is full (the caller closes with 4008)."""
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # closing already: the frame stays in the replay buffer
        return True

    def request_close(self, code: int, reason: str = "") -> None:
        if self.close_code is not None:
            return
        self.close_code, self.close_reason = code, reason
        self._send.close()
        self.receive.close()  # drops whatever was queued
        self.closed.set()

    def statistics(self) -> trio.MemoryChannelStatistics:
        return self._send.statistics()


class Session:
    """A gateway session (§6.5): identity, binding, ``s`` counter, replay buffer.

    The replay buffer holds the last dispatches' ``t`` and ``d`` in two parallel
    deques: ``d`` is shared by every session that got the event (DESIGN.md "Fan-out")
    and ``s`` is implied (the buffer holds consecutive ``s`` ending at ``seq``), so
    a buffered event costs two pointers per session, not a tuple and an int (which
    mattered after a presence storm filled 500 buffers with 500 events each).

    ``bound`` is ``("session", sid)`` or ``("bot", bgen)``: what ending closes it with
    4001. ``seq`` is the last ``s`` assigned; READY takes 1 and is not buffered.
    """

    __slots__ = (
        "hub", "session_id", "user_id", "username", "is_bot", "bound", "opened", "seq", "_types",
        "_payloads", "attachment", "held_until", "ended", "__weakref__",
    )

    def __init__(
        self, hub: Hub, session_id: str, user_id: str, username: str, is_bot: bool,
        bound: tuple[str, str], opened: int, buffer_size: int,
    ) -> None:
        self.hub = hub
        self.session_id = session_id
        self.user_id = user_id
        self.username = username
        self.is_bot = is_bot
        self.bound = bound
        self.opened = opened
        self.seq = 1
        self._types: deque[str] = deque(maxlen=buffer_size)
        self._payloads: deque[str] = deque(maxlen=buffer_size)
        self.attachment: Attachment | None = None
        self.held_until: float | None = None
        self.ended = False

    def deliver(self, event_type: str, d: str) -> None:
        """Record one dispatch (``d`` already encoded) and queue it if attached.

        A full queue detaches the session with 4008 (held; may resume).
        """
        if self.ended:
            return
        self.seq += 1
        self.record(event_type, d)
        item = (self.seq, event_type, d)
        att = self.attachment
        if att is not None and not att.push(item):
            self.hub.close(self, CLOSE_SLOW_READER, "outgoing queue full")

    def record(self, event_type: str, d: str) -> None:
        """Buffer the dispatch numbered ``self.seq`` for resumes."""
        self._types.append(event_type)
        self._payloads.append(d)

    def clear_buffer(self) -> None:
        self._types.clear()
        self._payloads.clear()

    def replay_after(self, seq: int) -> list[str] | None:
        """Frames with ``s > seq`` in order, or None when a resume from ``seq`` is impossible."""
        if not 1 <= seq <= self.seq:
            return None
        if seq == self.seq:
            return []
        first = self.seq - len(self._types) + 1  # s of the oldest buffered dispatch
        if not self._types or first > seq + 1:
            return None
        skip = seq + 1 - first
        return [
            dispatch_frame(t, first + i, d)
            for i, (t, d) in enumerate(zip(self._types, self._payloads, strict=True))
            if i >= skip
        ]

    def close_nowait(self, code: int, reason: str) -> None:
        """Close with ``code`` (the hub decides between held and discarded, §6.5)."""
        self.hub.close(self, code, reason)

    @property
    def attached(self) -> bool:
        return self.attachment is not None
