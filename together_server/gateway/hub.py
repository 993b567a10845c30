"""The hub: live sessions, who receives what, and session lifecycles (API.md §6.5-§6.8).

The storage writer calls :meth:`Hub.publish` on the trio thread after each COMMIT with
that commit's events, in commit order; each event already names its receiving user ids
(taken inside the transaction). The hub encodes each event's ``d`` once and hands the
string to every session of every receiver (attached or held); each session splices its
own envelope and ``s`` around it (DESIGN.md "Fan-out") and queues it without blocking —
a full queue closes that session alone with 4008 (STYLE.md §6).

Lifecycle: :meth:`open` creates or resumes a session (before the upgrade is accepted,
so ``limit_reached`` can still be an HTTP 400); :meth:`close` and
:meth:`connection_lost` detach it, then it is *held* for
``gateway.resume_window_seconds`` or *ended* at once (client 1000, server 4001). Ending
a session runs its side effects in the background: the voice state bound to it leaves,
and the user's last session ending announces them offline. An ended session leaves
nothing behind in the hub (no index entry, no buffer, no task).

Presence on connect and disconnect (a user's first session / last session) goes
through ``gateway.presence`` (coalesced per window, batched per receiver).

The hub owns sessions; ``gateway.live`` (sessions and socket queues) is a leaf it uses.
:meth:`start` gives the hub its config, database and nursery, starts its background
tasks, and subscribes :meth:`on_revoked` to the revocation list (4001 closes).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
from collections import Counter
from collections.abc import Iterable
from typing import Any

import trio

from ..auth.request import Caller
from ..config import GatewayConfig
from ..errors import ApiError
from ..storage import voice as voice_store
from ..storage.db import Event
from ..storage.health import is_refusal
from .live import Attachment, Session
from .presence import PresenceAnnouncer
from .protocol import (
    CLOSE_NORMAL,
    CLOSE_RESUMED_ELSEWHERE,
    CLOSE_REVOKED,
    CLOSE_SLOW_READER,
    ResumeRequest,
    RollingWindow,
    dispatch_frame,
    encode,
)
from .reclaim import Reclaimer

log = logging.getLogger(__name__)

TYPING_INTERVAL = 5.0  # seconds between TYPING_START broadcasts per user and channel (§6.8)
PRESENCE_OPS, PRESENCE_PERIOD = 5, 60.0  # PRESENCE_UPDATE ops per user per rolling minute


class Hub:
    """Registry of gateway sessions and the fan-out of events to them."""

    def __init__(self, gateway: GatewayConfig | None = None, sessions_per_user: int = 16) -> None:
        self.cfg = gateway or GatewayConfig()
        self.sessions_per_user = sessions_per_user
        self._sessions: dict[str, Session] = {}
        self._by_user: dict[str, dict[str, Session]] = {}
        self._by_bound: dict[tuple[str, str], set[str]] = {}
        self._held: list[tuple[float, int, str]] = []
        self._held_tiebreak = itertools.count()
        self._next_open = 1  # Session.opened of the next new session (presence marks)
        self._typing: dict[tuple[str, str], float] = {}
        self._presence_ops: dict[str, RollingWindow] = {}
        self._voice_sessions: set[str] = set()
        self._nursery: trio.Nursery | None = None
        self._db: Any = None
        self._wake: trio.Event | None = None
        self._presence = PresenceAnnouncer(
            self.cfg.presence_window_ms / 1000, self._sessions_of_user, self.is_online, self._slow_reader)
        self._presence_started = False
        self.reclaimer = Reclaimer()
        self.closing = False
        self.published = 0
        self.closes: Counter[int] = Counter()

    # -- start-up ----------------------------------------------------------------------

    def start(self, state: Any, nursery: trio.Nursery) -> None:
        """Wire the hub into a running daemon (called by ``daemon._serve`` once the nursery
        is open): config, database, background tasks (the reaper of held sessions, the
        presence announcer) and the 4001 listener."""
        self.cfg = state.config.gateway
        self.sessions_per_user = state.config.limits.gateway_sessions_per_user
        self._db = state.db
        self._nursery = nursery
        self._wake = trio.Event()
        self._presence.window = self.cfg.presence_window_ms / 1000
        self._presence_started = True
        state.revocations.listeners.append(self.on_revoked)
        nursery.start_soon(self._reap_held)
        nursery.start_soon(self._presence.run, state.db)
        nursery.start_soon(self.reclaimer.run)

    # -- queries -----------------------------------------------------------------------

    def is_online(self, user_id: str) -> bool:
        """Has at least one session, attached or held (presence, §6.5)."""
        return user_id in self._by_user

    def get(self, session_id: str) -> Session | None:
        """A live (attached or held) session by id."""
        return self._sessions.get(session_id)

    def sessions_of(self, user_id: str) -> list[Session]:
        return list(self._by_user.get(user_id, {}).values())

    def _sessions_of_user(self, user_id: str) -> Iterable[Session]:
        """The user's live sessions, not copied (for the presence announcer's loop)."""
        mine = self._by_user.get(user_id)
        return mine.values() if mine else ()

    def all_sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def latest_session_of(self, user_id: str) -> Session | None:
        """The user's most recently opened live session (voice joins, §4.6)."""
        mine = self._by_user.get(user_id)
        return max(mine.values(), key=lambda s: s.opened) if mine else None

    def statistics(self) -> dict[str, Any]:
        attached = sum(1 for s in self._sessions.values() if s.attached)
        return {
            "users": len(self._by_user), "sessions": len(self._sessions), "attached": attached,
            "held": len(self._sessions) - attached, "published": self.published,
            "closes": dict(self.closes), "presence_pending": self._presence.pending(),
            "presence_announced": self._presence.announced,
            "gc_collections": self.reclaimer.collections, "gc_last_pause_ms": self.reclaimer.last_pause_ms,
        }

    def retained(self) -> dict[str, int]:
        """Sizes of every per-session or per-user index (all 0 once every session ended
        and the resume window passed; issue 15 §2)."""
        return {
            "sessions": len(self._sessions), "by_user": len(self._by_user),
            "by_bound": len(self._by_bound), "held_heap": len(self._held),
            "voice_sessions": len(self._voice_sessions), "presence_ops": len(self._presence_ops),
            "presence_pending": self._presence.pending(),
        }

    # -- lifecycle ---------------------------------------------------------------------

    def open(self, caller: Caller, resume: ResumeRequest | None, attachment: Attachment) -> tuple[Session, list[str] | None]:
        """Resume or create a session for ``caller`` and attach ``attachment`` to it.

        Returns ``(session, preamble)``: for a resume, the replayed frames followed by
        RESUMED (§6.5); ``None`` for a fresh session (the caller sends READY as ``s`` 1).
        Raises ApiError ``limit_reached`` when the user holds the maximum number of
        sessions and none of them is held (§6.1).
        """
        bound = ("bot", caller.bgen) if caller.bgen is not None else ("session", caller.sid or "")
        if resume is not None:
            found = self._sessions.get(resume.session_id)
            if found is not None and found.user_id == caller.user_id and found.is_bot == caller.is_bot:
                frames = found.replay_after(resume.seq)
                if frames is not None:
                    self._resume(found, bound, frames, attachment)
                    return found, frames
        mine = self._by_user.get(caller.user_id, {})
        while len(mine) >= self.sessions_per_user:
            held = [s for s in mine.values() if not s.attached]
            if not held:
                raise ApiError("limit_reached", f"At most {self.sessions_per_user} gateway sessions per user")
            self._end(min(held, key=lambda s: s.opened))
            mine = self._by_user.get(caller.user_id, {})
        session = Session(
            secrets.token_urlsafe(18), caller.user_id, caller.username, caller.is_bot, bound,
            self._next_open, self.cfg.resume_buffer_events,
        )
        self._next_open += 1
        first = caller.user_id not in self._by_user
        self._sessions[session.session_id] = session
        self._by_user.setdefault(caller.user_id, {})[session.session_id] = session
        self._by_bound.setdefault(bound, set()).add(session.session_id)
        session.attachment = attachment
        if first:
            self._presence_changed(caller.user_id, True, session.opened)
        return session, None

    def _resume(self, s: Session, bound: tuple[str, str], frames: list[str], attachment: Attachment) -> None:
        if s.attachment is not None:
            s.attachment.request_close(CLOSE_RESUMED_ELSEWHERE, "session resumed on another connection")
            self.closes[CLOSE_RESUMED_ELSEWHERE] += 1
        if bound != s.bound:
            self._unbind(s)
            s.bound = bound
            self._by_bound.setdefault(bound, set()).add(s.session_id)
        s.held_until = None
        s.seq += 1
        d = encode({"session_id": s.session_id, "replayed": len(frames)})
        s.record("RESUMED", d)
        frames.append(dispatch_frame("RESUMED", s.seq, d))
        s.attachment = attachment

    def close(self, s: Session, code: int, reason: str = "") -> None:
        """Close the session's socket with ``code``; 1000 and 4001 end the session, any
        other code holds it for resume (§6.5)."""
        att = s.attachment
        if att is not None:
            s.attachment = None
            att.request_close(code, reason)
            self.closes[code] += 1
        if code in (CLOSE_NORMAL, CLOSE_REVOKED):
            self._end(s)
        else:
            self._hold(s)

    def connection_lost(self, s: Session, attachment: Attachment, peer_code: int | None) -> None:
        """The socket behind ``attachment`` is gone without a server close: a client
        close with 1000 ends the session, anything else holds it."""
        if s.attachment is not attachment:
            return  # already detached (server close, or resumed elsewhere)
        s.attachment = None
        if peer_code == CLOSE_NORMAL:
            self._end(s)
        else:
            self._hold(s)

    def discard(self, s: Session) -> None:
        """End a session now (no resume possible)."""
        self._end(s)

    def _hold(self, s: Session) -> None:
        if s.ended or s.attached or s.held_until is not None or self.closing:
            return
        window = self.cfg.resume_window_seconds
        if window <= 0:
            self._end(s)
            return
        s.held_until = trio.current_time() + window
        heapq.heappush(self._held, (s.held_until, next(self._held_tiebreak), s.session_id))
        if self._wake is not None:
            self._wake.set()

    def _unbind(self, s: Session) -> None:
        ids = self._by_bound.get(s.bound)
        if ids is not None:
            ids.discard(s.session_id)
            if not ids:
                del self._by_bound[s.bound]

    def _end(self, s: Session) -> None:
        if s.ended:
            return
        s.ended = True
        if s.attachment is not None:
            s.attachment.request_close(CLOSE_NORMAL)
            s.attachment = None
        self._sessions.pop(s.session_id, None)
        self._unbind(s)
        mine = self._by_user.get(s.user_id)
        if mine is not None:
            mine.pop(s.session_id, None)
            if not mine:
                del self._by_user[s.user_id]
                self._presence_ops.pop(s.user_id, None)
                self._presence_changed(s.user_id, False, self._next_open)
        s.clear_buffer()
        self.reclaimer.ended()
        if s.session_id in self._voice_sessions:
            self._voice_sessions.discard(s.session_id)
            self.end_voice(s.session_id)

    async def _reap_held(self) -> None:
        """End held sessions whose resume window ran out (a daemon task)."""
        assert self._wake is not None
        while True:
            deadline = self._end_expired()
            self._wake = trio.Event()
            if deadline is not None:
                with trio.move_on_at(deadline):
                    await self._wake.wait()
            else:
                await self._wake.wait()

    def _end_expired(self) -> float | None:
        """End every held session past its deadline; the next deadline, if any. (Not in the
        task's frame: a local there would keep the last ended session alive.)"""
        while self._held:
            deadline, _, sid = self._held[0]
            s = self._sessions.get(sid)
            if s is None or s.held_until != deadline:
                heapq.heappop(self._held)  # resumed, ended or held again since
                continue
            if deadline > trio.current_time():
                return deadline
            heapq.heappop(self._held)
            self._end(s)
        return None

    def on_revoked(self, kind: str, key: str) -> None:
        """Revocations listener: what these sessions are bound to ended -> 4001 (§6.5)."""
        for sid in list(self._by_bound.get((kind, key), ())):
            s = self._sessions.get(sid)
            if s is not None:
                self.close(s, CLOSE_REVOKED, "session revoked")

    def close_all(self, code: int, reason: str) -> None:
        """Shutdown: close every attached socket with ``code`` (1001); nothing is held."""
        self.closing = True
        for s in list(self._sessions.values()):
            if s.attachment is not None:
                att, s.attachment = s.attachment, None
                att.request_close(code, reason)
                self.closes[code] += 1

    # -- fan-out -----------------------------------------------------------------------

    def publish(self, events: Iterable[Event]) -> None:
        """Deliver each event to every session of its receivers, in the given order.

        Per event: one encode (per receiver for ``per_user`` events); per session: the
        ``s`` counter, two buffer appends and one queue append. Slow readers (full
        queue) are closed with 4008 after the loop, the dispatch kept in their buffer.
        """
        by_user = self._by_user
        slow: list[Session] = []
        for event in events:
            self.published += 1
            skip = event.exclude_session
            etype = event.type
            if event.per_user:
                for uid in event.users:
                    sessions = by_user.get(uid)
                    if sessions and uid in event.data:
                        d = encode(event.data[uid])
                        for s in sessions.values():
                            if s.session_id != skip and not s.deliver(etype, d):
                                slow.append(s)
                continue
            payload: str | None = None
            for uid in event.users:
                sessions = by_user.get(uid)
                if not sessions:
                    continue
                if payload is None:
                    payload = encode(event.data)
                for s in sessions.values():
                    if s.session_id != skip and not s.deliver(etype, payload):
                        slow.append(s)
        for s in slow:
            self._slow_reader(s)

    def _slow_reader(self, s: Session) -> None:
        if s.attachment is not None:
            self.close(s, CLOSE_SLOW_READER, "outgoing queue full")

    def deliver_to(self, session_id: str, event_type: str, data: Any) -> bool:
        """One dispatch to one session (VOICE_SIGNAL, §6.3); False if it is gone."""
        s = self._sessions.get(session_id)
        if s is None:
            return False
        if not s.deliver(event_type, encode(data)):
            self._slow_reader(s)
        return True

    # -- throttles (§6.8) --------------------------------------------------------------

    def allow_typing(self, user_id: str, channel_id: str) -> bool:
        """Reserve a TYPING_START broadcast slot (one per 5 s per user and channel)."""
        now = trio.current_time()
        key = (user_id, channel_id)
        last = self._typing.get(key)
        if last is not None and now - last < TYPING_INTERVAL:
            return False
        if len(self._typing) > 50_000:
            self._typing = {k: t for k, t in self._typing.items() if now - t < TYPING_INTERVAL}
        self._typing[key] = now
        return True

    def release_typing(self, user_id: str, channel_id: str) -> None:
        """Give back a reserved slot when the op was refused (it broadcast nothing)."""
        self._typing.pop((user_id, channel_id), None)

    def allow_presence(self, user_id: str) -> bool:
        """Whether one more PRESENCE_UPDATE op of this user may be applied (5 per minute)."""
        window = self._presence_ops.get(user_id)
        if window is None:
            window = self._presence_ops[user_id] = RollingWindow(PRESENCE_OPS, PRESENCE_PERIOD)
        return window.allow(trio.current_time())

    # -- background side effects -------------------------------------------------------

    def voice_bound(self, session_id: str) -> None:
        """A voice state was bound to this session: ending it must make it leave."""
        self._voice_sessions.add(session_id)

    def end_voice(self, session_id: str) -> None:
        """Remove (in the background) the voice state bound to a session that ended."""
        if self._nursery is None or self._db is None:
            return
        db = self._db

        async def job() -> None:
            try:
                await db.write(lambda tx: voice_store.end_session(tx, session_id))
            except Exception as exc:
                if not is_refusal(exc):  # a full disk / outside lock is logged once by storage
                    log.exception("voice clean-up of an ended gateway session failed")

        self._nursery.start_soon(job)

    async def presence_flushed(self, session: Session) -> None:
        """Wait (bounded) until presence changes from before ``session`` opened were
        delivered (READY is sent after them; gateway.presence)."""
        if self._presence_started:
            await self._presence.flushed(session.opened)

    def _presence_changed(self, user_id: str, online: bool, mark: int) -> None:
        if self._presence_started and not self.closing:
            self._presence.changed(user_id, online, mark)
