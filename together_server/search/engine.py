"""Running a parsed search against SQLite (API.md §7.3, §7.4).

:func:`search_messages` is synchronous and takes a connection: the caller runs it on a
reader thread, after deciding which channels the caller may view. It needs the
``together_segment`` SQL function on that connection (search/segment.py), because
``highlight()`` reads the segmented text through the ``messages_fts_src`` view.

Plans:

* with word terms, the FTS5 table is the driving loop, read newest first
  (``ORDER BY rowid DESC`` is served by FTS5 itself), each hit joined to its message by
  rowid and filtered by scope and filters, stopping after ``limit + 1`` rows;
* ``sort=relevance`` ranks the newest :data:`RELEVANCE_CANDIDATES` hits by bm25 (ranking
  every hit of a very common word costs time proportional to the whole corpus), ties
  newest first, and pages them with ``offset``;
* a query of filters only walks ``messages`` newest first through its indexes.

``total`` is ``count(*)`` over a ``LIMIT 1000`` subquery, so it costs at most 1000 hits.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..storage.attachments import load as load_attachments
from ..text import fold
from .highlight import build_highlight
from .query import SearchQuery
from .segment import MARK_CLOSE, MARK_OPEN

TOTAL_CAP = 1000  # §7.4: total counts up to 1000; relevance offsets stop there too
RELEVANCE_CANDIDATES = 2000

WORDS = "messages_fts"
RAW = "messages_fts_raw"

_SQL_SCOPE = (
    "SELECT c.id FROM channels AS c JOIN servers AS s ON s.id = c.server_id"
    " WHERE c.server_id = ? AND s.deleted_at IS NULL"
    " AND c.id IN (SELECT value FROM json_each(?))"
)
_SQL_AUTHOR = "SELECT id FROM users WHERE username_fold = ?"
_SQL_SEQ_AT_OR_AFTER = "SELECT seq FROM messages WHERE id >= ? ORDER BY id LIMIT 1"
_SQL_ROWS = (
    "SELECT m.seq, m.id, m.channel_id, m.author_id, m.content, m.created_at, u.username"
    " FROM messages AS m LEFT JOIN users AS u ON u.id = m.author_id"
    " WHERE m.seq IN (SELECT value FROM json_each(?))"
)
# One MATCH for a whole page: a rowid range is a cheap FTS5 constraint, while
# "rowid = ?" per result re-evaluates the query (a prefix's term expansion) every time.
# highlight() runs only for the page's rows (CASE), not for every hit in the range.
_SQL_HIGHLIGHTS = (
    "SELECT rowid, CASE WHEN rowid IN (SELECT value FROM json_each(?)) THEN highlight({t}, 0, ?, ?) END"
    " FROM {t} WHERE {t} MATCH ? AND rowid BETWEEN ? AND ?"
)


def search_messages(
    conn: sqlite3.Connection,
    *,
    server_id: str,
    viewable_channel_ids: Sequence[str],
    query: SearchQuery,
    channel_id: str | None,
    before: str | None,
    limit: int,
    sort: str,
    offset: int,
) -> dict[str, Any]:
    """Search server ``server_id`` and return the §7.4 response object.

    ``viewable_channel_ids``: channels of this server the caller may view (decided by
    the caller; anything else is never searched). ``channel_id``: the §7.1 parameter, if
    given (already checked by the caller to be viewable). ``before``: a message id
    cursor (``sort="newest"`` only). ``limit``: 1–100. ``sort``: ``"newest"`` or
    ``"relevance"``. ``offset``: 0–1000 (relevance only). Returns
    ``{"results": [...], "total", "has_more", "next_cursor", "next_offset"}``.
    A tombstoned or unknown server, an unknown ``from:`` user or ``in:`` channel gives an
    empty response. Raises only ``sqlite3.Error`` for database failures.
    """
    empty: dict[str, Any] = {
        "results": [], "total": 0, "has_more": False, "next_cursor": None, "next_offset": None
    }
    plan = _build_plan(conn, server_id, viewable_channel_ids, query, channel_id)
    if plan is None:
        return empty
    if sort == "relevance":
        rows, more = _page_relevance(conn, plan, query, limit, offset)
    else:
        rows, more = _page_newest(conn, plan, query, before.lower() if before else None, limit)
    total = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 {plan.sql_from} WHERE {plan.sql_where} LIMIT {TOTAL_CAP})",
        plan.params,
    ).fetchone()[0]
    marked = _highlights(conn, query, [row[0] for row, _rank in rows])
    results = [_result(query, row, rank, marked) for row, rank in rows]
    files = load_attachments(conn, [r["id"] for r in results])
    for r in results:
        r["attachments"] = files.get(r["id"], [])
    response: dict[str, Any] = dict(empty, results=results, total=total)
    if sort == "relevance":
        next_offset = offset + len(results)
        more = more and next_offset <= TOTAL_CAP
        response.update(has_more=more, next_offset=next_offset if more else None)
    else:
        response.update(has_more=more, next_cursor=results[-1]["id"] if more else None)
    return response


class _Plan:
    """FROM and WHERE (with parameters) selecting every hit, cursor not applied."""

    __slots__ = ("driver", "params", "rank_expr", "sql_from", "sql_where")

    def __init__(self, sql_from: str, sql_where: str, params: list[Any], driver: str | None, rank_expr: str) -> None:
        self.sql_from, self.sql_where, self.params = sql_from, sql_where, params
        self.driver, self.rank_expr = driver, rank_expr


def _build_plan(
    conn: sqlite3.Connection,
    server_id: str,
    viewable: Sequence[str],
    query: SearchQuery,
    channel_id: str | None,
) -> _Plan | None:
    scope_sql = _SQL_SCOPE
    scope_params: list[Any] = [server_id, json.dumps(list(viewable))]
    if channel_id is not None:
        scope_sql += " AND c.id = ?"
        scope_params.append(channel_id.lower())
    if query.in_channel is not None:
        scope_sql += " AND c.name_fold = ?"
        scope_params.append(fold(query.in_channel))
    channels = [r[0] for r in conn.execute(scope_sql, scope_params)]
    if not channels:
        return None

    where = ["m.server_id = ?", "m.channel_id IN (SELECT value FROM json_each(?))", "m.deleted = 0"]
    params: list[Any] = [server_id, json.dumps(channels)]
    if query.from_username is not None:
        authors = [r[0] for r in conn.execute(_SQL_AUTHOR, (fold(query.from_username),))]
        if not authors:
            return None
        where.append("m.author_id = ?")
        params.append(authors[0])
    # Dates also become seq/id bounds: created_at never decreases along seq (schema), so
    # FTS5 and the (server_id, id) index can skip to the right range instead of walking
    # every newer message. The created_at conditions stay, so the bounds are only a hint.
    seq_bounds: list[tuple[str, int]] = []
    if query.before_date is not None:
        day = _day_start(query.before_date)
        where.append("m.created_at < ?")
        params.append(day)
        found = _first_at_or_after(conn, day)
        if found is not None:
            where.append("m.id < ?")
            params.append(found[1])
            seq_bounds.append(("<", found[0]))
    if query.after_date is not None:
        if query.after_date == datetime.date.max:
            return None  # nothing is created after the last representable day
        day = _day_start(query.after_date + datetime.timedelta(days=1))
        where.append("m.created_at >= ?")
        params.append(day)
        found = _first_at_or_after(conn, day)
        if found is None:
            return None
        where.append("m.id >= ?")
        params.append(found[1])
        seq_bounds.append((">=", found[0]))
    if query.has_link:
        # Exactly the WHERE of the partial index messages_links (0002_search.sql).
        where.append("(m.content LIKE '%http://%' OR m.content LIKE '%https://%')")
    if query.has_kind is not None:  # issue 10: has:file / has:image / has:video
        kind = {"file": "", "image": " AND a.mime_type LIKE 'image/%'", "video": " AND a.mime_type LIKE 'video/%'"}
        where.append(f"EXISTS (SELECT 1 FROM attachments AS a WHERE a.message_id = m.id{kind[query.has_kind]})")
    named = _file_name_hits(conn, server_id, query) if query.has_terms else []
    if named:
        # A file's name matches the words: such messages are hits too. The text match
        # becomes a condition beside them (no FTS-driven order, no rank for this query).
        text = []
        if query.words_match is not None:
            text.append(f"m.seq IN (SELECT rowid FROM {WORDS} WHERE {WORDS} MATCH ?)")
            params.append(query.words_match)
        if query.raw_match is not None:
            text.append(f"m.seq IN (SELECT rowid FROM {RAW} WHERE {RAW} MATCH ?)")
            params.append(query.raw_match)
        where.append(f"(({' AND '.join(text)}) OR m.seq IN (SELECT value FROM json_each(?)))")
        params.append(json.dumps(named))
        return _Plan("FROM messages AS m", " AND ".join(where), params, None, "0.0")

    match_where: list[str] = []
    match_params: list[Any] = []
    ranks: list[str] = []
    # CROSS JOIN fixes the join order: FTS5 drives. Left to itself the planner may walk
    # messages_server and probe FTS5 once per message (100x slower on the count query).
    if query.words_match is not None and query.raw_match is not None:
        sql_from = f"FROM {WORDS} AS f CROSS JOIN {RAW} AS r ON r.rowid = f.rowid CROSS JOIN messages AS m ON m.seq = f.rowid"
        match_where += [f"f.{WORDS} MATCH ?", f"r.{RAW} MATCH ?"]
        match_params += [query.words_match, query.raw_match]
        ranks += [f"bm25(f.{WORDS})", f"bm25(r.{RAW})"]
        driver: str | None = "f"
    elif query.words_match is not None or query.raw_match is not None:
        table = WORDS if query.words_match is not None else RAW
        sql_from = f"FROM {table} AS f CROSS JOIN messages AS m ON m.seq = f.rowid"
        match_where.append(f"f.{table} MATCH ?")
        match_params.append(query.words_match if query.words_match is not None else query.raw_match)
        ranks.append(f"bm25(f.{table})")
        driver = "f"
    else:
        sql_from = "FROM messages AS m"
        driver = None
    if driver is not None:
        for op, seq in seq_bounds:
            match_where.append(f"{driver}.rowid {op} ?")
            match_params.append(seq)
    rank_expr = f"-({' + '.join(ranks)})" if ranks else "0.0"
    return _Plan(sql_from, " AND ".join(match_where + where), match_params + params, driver, rank_expr)


_SQL_NAMED = (
    "SELECT m.seq FROM attachment_names_fts AS f JOIN attachments AS a ON a.seq = f.rowid"
    " JOIN messages AS m ON m.id = a.message_id"
    " WHERE attachment_names_fts MATCH ? AND a.server_id = ? AND m.deleted = 0 ORDER BY m.seq DESC LIMIT 1000"
)


def _file_name_hits(conn: sqlite3.Connection, server_id: str, query: SearchQuery) -> list[int]:
    """Seqs of this server's messages with a file whose name holds every search term."""
    terms = [t for t in (query.words_match, query.raw_match) if t is not None]
    if not terms:
        return []
    match = " AND ".join(f"({t})" for t in terms)
    try:
        return sorted({r[0] for r in conn.execute(_SQL_NAMED, (match, server_id))}, reverse=True)
    except sqlite3.OperationalError:  # a term FTS5 cannot apply to names: no name hits
        return []


def _page_newest(
    conn: sqlite3.Connection, plan: _Plan, query: SearchQuery, before: str | None, limit: int
) -> tuple[list[tuple[sqlite3.Row | tuple[Any, ...], float]], bool]:
    where, params = plan.sql_where, list(plan.params)
    order = "m.id DESC"
    if plan.driver is not None:
        order = f"{plan.driver}.rowid DESC"
    if before is not None:
        where += " AND m.id < ?"
        params.append(before)
        if plan.driver is not None:
            # Tell FTS5 where to start: ids and seqs sort the same way (schema note).
            bound = conn.execute(_SQL_SEQ_AT_OR_AFTER, (before,)).fetchone()
            if bound is not None:
                where += f" AND {plan.driver}.rowid < ?"
                params.append(bound[0])
    sql = f"SELECT m.seq, {plan.rank_expr} {plan.sql_from} WHERE {where} ORDER BY {order} LIMIT ?"
    hits = conn.execute(sql, [*params, limit + 1]).fetchall()
    return _load(conn, hits[:limit]), len(hits) > limit


def _page_relevance(
    conn: sqlite3.Connection, plan: _Plan, query: SearchQuery, limit: int, offset: int
) -> tuple[list[tuple[sqlite3.Row | tuple[Any, ...], float]], bool]:
    if plan.driver is None:
        sql = (
            f"SELECT m.seq, 0.0 {plan.sql_from} WHERE {plan.sql_where}"
            " ORDER BY m.id DESC LIMIT ? OFFSET ?"
        )
    else:
        sql = (
            f"SELECT seq, score FROM (SELECT m.seq AS seq, {plan.rank_expr} AS score"
            f" {plan.sql_from} WHERE {plan.sql_where}"
            f" ORDER BY {plan.driver}.rowid DESC LIMIT {RELEVANCE_CANDIDATES})"
            " ORDER BY score DESC, seq DESC LIMIT ? OFFSET ?"
        )
    hits = conn.execute(sql, [*plan.params, limit + 1, offset]).fetchall()
    return _load(conn, hits[:limit]), len(hits) > limit


def _load(
    conn: sqlite3.Connection, hits: list[Any]
) -> list[tuple[sqlite3.Row | tuple[Any, ...], float]]:
    if not hits:
        return []
    rows = {r[0]: r for r in conn.execute(_SQL_ROWS, (json.dumps([h[0] for h in hits]),))}
    return [(rows[seq], max(0.0, float(rank or 0.0)) + 0.0) for seq, rank in hits if seq in rows]


def _highlights(conn: sqlite3.Connection, query: SearchQuery, seqs: list[int]) -> dict[str, dict[int, str]]:
    """``{table: {seq: marked text}}`` for the page's messages, one query per table."""
    out: dict[str, dict[int, str]] = {}
    if not seqs:
        return out
    wanted = set(seqs)
    for table, match in ((WORDS, query.words_match), (RAW, query.raw_match)):
        if match is not None:
            rows = conn.execute(
                _SQL_HIGHLIGHTS.format(t=table),
                (json.dumps(seqs), MARK_OPEN, MARK_CLOSE, match, min(seqs), max(seqs)),
            )
            out[table] = {seq: text for seq, text in rows if seq in wanted}
    return out


def _result(query: SearchQuery, row: Any, rank: float, marked_by_table: dict[str, dict[int, str]]) -> dict[str, Any]:
    seq, msg_id, channel_id, author_id, content, created_at, username = tuple(row)
    marked: list[str | None] = [
        marked_by_table.get(table, {}).get(seq)
        for table, match in ((WORDS, query.words_match), (RAW, query.raw_match)) if match is not None
    ]
    return {
        "id": msg_id,
        "channel_id": channel_id,
        "author_id": author_id,
        "author_username": username if username is not None else f"deleted-user-{author_id[:8]}",
        "content": content,
        "highlight": build_highlight(content, marked),
        "created_at": created_at,
        "rank": rank,
    }


def _first_at_or_after(conn: sqlite3.Connection, when: str) -> tuple[int, str] | None:
    """``(seq, id)`` of the first message created at or after ``when``, by binary search
    over seq (about 20 rowid lookups), or ``None``."""
    # two subqueries: SQLite answers min() and max() of the rowid from the b-tree ends
    # only when each stands alone (together they scan the whole table)
    row = conn.execute("SELECT (SELECT min(seq) FROM messages), (SELECT max(seq) FROM messages)").fetchone()
    if row[0] is None:
        return None
    lo, hi = row[0], row[1] + 1  # answer in [lo, hi]; hi means "none"
    while lo < hi:
        mid = (lo + hi) // 2
        probe = conn.execute(
            "SELECT seq, created_at FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,)
        ).fetchone()
        if probe[1] >= when:
            hi = mid
        else:
            lo = probe[0] + 1  # every seq up to probe[0] is older (or absent)
    found = conn.execute(
        "SELECT seq, id FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1", (lo,)
    ).fetchone()
    return (found[0], found[1]) if found is not None else None


def _day_start(day: datetime.date) -> str:
    return f"{day.isoformat()}T00:00:00.000000Z"
