"""The message-list cursor rule shared by channel and DM messages (API.md §3.5, §1.7).

| cursors given | selected                                  |
|---------------|-------------------------------------------|
| none          | the ``limit`` newest                       |
| before=X      | the ``limit`` newest with id < X           |
| after=X       | the ``limit`` oldest with id > X           |
| both          | the ``limit`` oldest with after < id < before |

Whatever is selected comes back newest first. Ids are UUIDv7 strings that increase in
commit order, so comparing them as text is comparing them in time.
"""

from __future__ import annotations

import sqlite3


def cursor_page(
    conn: sqlite3.Connection, *, table: str, columns: str, channel_id: str,
    before: str | None, after: str | None, limit: int, extra_where: str | None = None,
    extra_args: tuple[object, ...] = (),
) -> list[sqlite3.Row]:
    """Undeleted rows of ``table`` in ``channel_id`` selected by the table above;
    ``extra_where`` (a fixed SQL condition with ``extra_args``) narrows the rows."""
    where: list[str] = ["channel_id = ?", "deleted = 0"]
    args: list[object] = [channel_id]
    if extra_where is not None:
        where.append(extra_where)
        args.extend(extra_args)
    if before is not None:
        where.append("id < ?")
        args.append(before)
    if after is not None:
        where.append("id > ?")
        args.append(after)
    order = "ASC" if after is not None else "DESC"
    rows = conn.execute(
        f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ?",
        (*args, limit),
    ).fetchall()
    if order == "ASC":
        rows.reverse()
    return rows
