"""A cache of access facts for the writer thread, emptied by any change to them.

Posting a message needs the channel, the author's permissions in it, their timeout and
the channel's viewers (the MESSAGE_CREATE audience): several queries per post, the same
answers for every post until membership, roles, overrides, channels or timeouts change.
The writer connection carries TEMP triggers on exactly those tables that call back into
:meth:`WriteCache.clear`, so every change — from any module, in any job — empties the
cache before the next read. A job that fails also empties it (its savepoint rolled back
changes the cache may have seen), and so does a failed COMMIT.

Only the writer thread uses it: readers see older snapshots and must not share it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

WATCHED = ("members", "member_roles", "roles", "overrides", "channels", "servers", "timeouts")
MAX_ENTRIES = 50_000


class WriteCache:
    """Writer-thread-only key -> value cache of access facts, cleared by TEMP triggers on WATCHED tables.

    ``get(key)`` -> value or None; ``put(key, value)`` stores and returns value (whole cache dropped past
    MAX_ENTRIES); ``install(conn)`` adds the triggers to the writer connection; ``clears`` counts clears.
    """
    def __init__(self) -> None:
        self._data: dict[Any, Any] = {}
        self.clears = 0

    def clear(self) -> None:
        if self._data:
            self._data.clear()
        self.clears += 1

    def get(self, key: Any) -> Any:
        return self._data.get(key)

    def put(self, key: Any, value: Any) -> Any:
        if len(self._data) >= MAX_ENTRIES:
            self._data.clear()
        self._data[key] = value
        return value

    def install(self, conn: sqlite3.Connection) -> None:
        """Create the TEMP triggers on the writer connection (they live with it)."""
        conn.create_function("together_access_changed", 0, self._changed)
        for table in WATCHED:
            for op in ("INSERT", "UPDATE", "DELETE"):
                conn.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS together_watch_{table}_{op.lower()}"
                    f" AFTER {op} ON main.{table} BEGIN SELECT together_access_changed(); END"
                )

    def _changed(self) -> None:
        self.clear()
