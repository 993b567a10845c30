"""Connect/disconnect presence, coalesced and batched (API.md §6.5; issue 15 §1).

A user's **first** session opening and **last** session ending are presence transitions
(a second session, or a held one, changes nothing others see). The hub reports each
transition to :meth:`PresenceAnnouncer.changed` with its *open mark*: the number the
next new session will get, so ``session.opened < mark`` means "that session existed
at the transition".

Every ``gateway.presence_window_ms`` (default 250 ms) the announcer takes the users whose
state changed, reads their chosen status and audiences in ONE read transaction, and
delivers one ``PRESENCE_UPDATE`` per changed user to each receiving session, all of a
receiver's updates queued together (one socket write). Per user and window:

* the update carries the state at the flush; a user who went online and back offline
  inside the window (net: nothing changed) is not announced to the sessions that
  existed before the first transition;
* sessions opened after the user's last transition already saw the current state in
  their READY (and any member list they fetched since): they are not told again;
* a user whose chosen status is ``offline`` (invisible) is never announced;
* the audience is every co-member (§6.7) but the user (their own sessions know).

A new session's READY waits (at most ``READY_WAIT`` seconds) until the transitions of
sessions opened before it have been delivered (:meth:`flushed`), so a client that
connects and then acts sees the presence of those connects before the effects of its
own actions, as when announcements were immediate.

So a connect storm of U users with K sessions each costs one small read per window and
at most one frame per (user, session that existed before the user came online), never
one per (session, session). PRESENCE_UPDATE from the op or ``PATCH /users/@me`` is not
coalesced: it is published in commit order like any event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import trio

from ..storage import ready as ready_store
from .live import Session
from .protocol import encode

log = logging.getLogger(__name__)

READY_WAIT = 2.0  # seconds a READY may wait for earlier presence to be delivered


class PresenceAnnouncer:
    """Pending transitions per user, flushed in batches by :meth:`run`."""

    def __init__(
        self, window: float, sessions_of: Callable[[str], Iterable[Session]],
        is_online: Callable[[str], bool], slow: Callable[[Session], None],
    ) -> None:
        self.window = window
        self._sessions_of = sessions_of
        self._is_online = is_online
        self._slow = slow  # a receiver whose queue is full (the hub closes it with 4008)
        # user_id -> [online before the first transition, first mark, last mark]
        self._pending: dict[str, list[Any]] = {}
        self._wake = trio.Event()
        # the earliest mark among pending transitions / the batch being delivered (None: none)
        self._pending_min: int | None = None
        self._inflight_min: int | None = None
        self._delivered = trio.Event()
        self.announced = 0  # frames queued, for statistics and the benchmark

    def changed(self, user_id: str, online: bool, mark: int) -> None:
        """The user's first session opened (``online``) or last one ended, at ``mark``."""
        if self._pending_min is None:
            self._pending_min = mark  # marks only grow: the first one is the earliest
        entry = self._pending.get(user_id)
        if entry is None:
            self._pending[user_id] = [not online, mark, mark]
        else:
            entry[2] = mark
        self._wake.set()

    def pending(self) -> int:
        return len(self._pending)

    def _outstanding(self) -> int | None:
        marks = [m for m in (self._pending_min, self._inflight_min) if m is not None]
        return min(marks) if marks else None

    async def flushed(self, mark: int) -> None:
        """Wait (at most READY_WAIT s) until every transition with a mark < ``mark`` (made
        by sessions opened before the one numbered ``mark``) has been delivered; returns at
        once when none is outstanding."""
        with trio.move_on_after(READY_WAIT):
            while (first := self._outstanding()) is not None and first < mark:
                await self._delivered.wait()

    async def run(self, db: Any) -> None:
        """Flush pending transitions every window, forever (a daemon task)."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep(self.window)
            batch, self._pending = self._pending, {}
            self._inflight_min, self._pending_min = self._pending_min, None
            try:
                found = await db.read(ready_store.presence_batch, list(batch))
            except Exception:
                log.exception("presence announcement failed")
            else:
                self._deliver(batch, *found)
            self._inflight_min = None
            self._delivered.set()
            self._delivered = trio.Event()

    def _deliver(self, batch: dict[str, list[Any]], fields: dict[str, dict[str, Any]],
                 audiences: dict[str, list[str]]) -> None:
        queued: dict[str, tuple[Session, list[str]]] = {}
        for user_id, (was, first, last) in batch.items():
            f = fields.get(user_id)
            if f is None or f["chosen_status"] == "offline":
                continue  # account gone, or invisible: others always see offline
            online = self._is_online(user_id)
            lo = first if online == was else 0  # net unchanged: only who saw the in-between
            if lo >= last:
                continue
            d = encode({"user_id": user_id, "status": f["chosen_status"] if online else "offline",
                        "custom_status": f["custom_status"], "activity": f["activity"]})
            for receiver in audiences.get(user_id, ()):
                if receiver == user_id:
                    continue
                for s in self._sessions_of(receiver):
                    if lo <= s.opened < last:
                        entry = queued.get(s.session_id)
                        if entry is None:
                            queued[s.session_id] = (s, [d])
                        else:
                            entry[1].append(d)
        for s, payloads in queued.values():
            self.announced += len(payloads)
            full = False
            for d in payloads:  # a slow reader is closed once; the rest is still buffered
                if not s.deliver("PRESENCE_UPDATE", d) and not full:
                    full = True
                    self._slow(s)
