"""In-memory gateway session state (API.md §6.5): no sockets, no SQL, no hub — a leaf.

A :class:`Session` outlives its sockets: it keeps its sequence counter and a bounded
replay buffer of encoded dispatch frames, and is attached to at most one
:class:`Attachment` (one socket's bounded outgoing queue) at a time. While detached it
is *held* and keeps recording what is meant for it. The hub (``gateway.hub``) owns
sessions and decides what a full queue means (close 4008); this module imports nothing
of the gateway but the wire protocol.
"""

from __future__ import annotations

from collections import deque

import trio

from .protocol import dispatch_frame

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
    ``push`` never blocks (STYLE.md §6): it returns False when ``size`` items are already
    waiting. The send task takes everything waiting at once (:meth:`take`) and writes it
    in one socket write, so a burst costs one wake-up, not one per frame.
    ``request_close`` records the close code once, drops the queued frames (so a
    stalled reader holds no backlog) and wakes the connection task, which closes the
    socket with that code.
    """

    __slots__ = ("_items", "_size", "_wake", "close_code", "close_reason", "closed", "__weakref__")

    def __init__(self, size: int) -> None:
        self._items: deque[Item] = deque()
        self._size = size
        self._wake = trio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = trio.Event()

    def push(self, item: Item) -> bool:
        """Queue ``item``; False when the queue is full (the caller closes with 4008).

        After a close request the item is dropped (it stays in the replay buffer)."""
        if self.close_code is not None:
            return True
        if len(self._items) >= self._size:
            return False
        self._items.append(item)
        self._wake.set()
        return True

    async def take(self) -> list[Item]:
        """Wait until something is queued; return all of it, oldest first ([] once closing)."""
        while not self._items and self.close_code is None:
            self._wake = trio.Event()
            await self._wake.wait()
        if self.close_code is not None:
            return []
        items = list(self._items)
        self._items.clear()
        return items

    def request_close(self, code: int, reason: str = "") -> None:
        if self.close_code is not None:
            return
        self.close_code, self.close_reason = code, reason
        self._items.clear()  # drops whatever was queued
        self._wake.set()
        self.closed.set()

    def __len__(self) -> int:
        """Items waiting to be written."""
        return len(self._items)

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
        "session_id", "user_id", "username", "is_bot", "bound", "opened", "seq", "_types",
        "_payloads", "attachment", "held_until", "ended", "__weakref__",
    )

    def __init__(
        self, session_id: str, user_id: str, username: str, is_bot: bool,
        bound: tuple[str, str], opened: int, buffer_size: int,
    ) -> None:
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

    def deliver(self, event_type: str, d: str) -> bool:
        """Record one dispatch (``d`` already encoded) and queue it if attached.

        Returns False when the attached socket's queue is full: the caller (the hub)
        then closes it with 4008 (held; may resume, the dispatch is in the buffer).
        """
        if self.ended:
            return True
        seq = self.seq = self.seq + 1
        self._types.append(event_type)
        self._payloads.append(d)
        att = self.attachment
        return att is None or att.push((seq, event_type, d))

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

    @property
    def attached(self) -> bool:
        return self.attachment is not None
