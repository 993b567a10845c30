"""The hub: who receives what (DESIGN.md "Fan-out", API.md §6.7).

The storage writer calls :meth:`Hub.publish` on the trio thread after each COMMIT with
that commit's events, in commit order; each event already names its receiving user ids
(taken inside the transaction). The hub encodes each event's ``d`` once and hands the
bytes to every attached session of every receiver through the session's bounded
``deliver`` (which never blocks: a full queue closes that session with 4008).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from ..storage.db import Event

log = logging.getLogger(__name__)


class Receiver(Protocol):
    """What the hub needs of a gateway session."""

    session_id: str
    user_id: str

    def deliver(self, event_type: str, payload: bytes) -> None: ...

    def close_nowait(self, code: int, reason: str) -> None: ...


class Hub:
    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, Receiver]] = {}
        self.published = 0

    # -- sessions ----------------------------------------------------------------------

    def add(self, session: Receiver) -> None:
        self._by_user.setdefault(session.user_id, {})[session.session_id] = session

    def remove(self, session: Receiver) -> None:
        sessions = self._by_user.get(session.user_id)
        if sessions is not None:
            sessions.pop(session.session_id, None)
            if not sessions:
                del self._by_user[session.user_id]

    def sessions_of(self, user_id: str) -> list[Receiver]:
        return list(self._by_user.get(user_id, {}).values())

    def all_sessions(self) -> list[Receiver]:
        return [s for sessions in self._by_user.values() for s in sessions.values()]

    def is_online(self, user_id: str) -> bool:
        """Has at least one gateway session (presence, API.md §6.5)."""
        return user_id in self._by_user

    # -- fan-out -----------------------------------------------------------------------

    def publish(self, events: Iterable[Event]) -> None:
        """Deliver each event to every session of its receivers, in the given order."""
        for event in events:
            self.published += 1
            if event.per_user:
                for uid in event.users:
                    sessions = self._by_user.get(uid)
                    if sessions and uid in event.data:
                        payload = orjson.dumps(event.data[uid])
                        self._send(sessions.values(), event, payload)
                continue
            payload = None
            for uid in event.users:
                sessions = self._by_user.get(uid)
                if not sessions:
                    continue
                if payload is None:
                    payload = orjson.dumps(event.data)
                self._send(sessions.values(), event, payload)

    def _send(self, sessions: Iterable[Receiver], event: Event, payload: bytes) -> None:
        for s in list(sessions):
            if s.session_id != event.exclude_session:
                s.deliver(event.type, payload)

    def close_all(self, code: int, reason: str) -> None:
        for s in self.all_sessions():
            s.close_nowait(code, reason)

    def statistics(self) -> dict[str, Any]:
        return {"users": len(self._by_user), "sessions": sum(len(v) for v in self._by_user.values()),
                "published": self.published}
