"""The database: one writer thread that group-commits, and a pool of reader connections.

DESIGN.md "Storage" and "Writes are group-committed":

* :meth:`Database.write` queues ``fn(tx)`` for the writer thread. The writer takes every
  job waiting, runs them in ONE transaction, each inside its own SAVEPOINT (a job that
  raises is rolled back alone and its caller gets the exception), commits, and then —
  on the trio thread, in job order — runs each successful job's commit actions (hub
  publication, in-memory revocation updates) before waking the waiting handlers. So a
  request is answered only after its write is durable, and every gateway session sees
  events in commit order.
* :meth:`Database.read` runs ``fn(conn)`` on a reader connection in a worker thread
  (WAL lets readers run beside the writer).

Nothing here blocks the event loop. Storage never imports the gateway or the API: the
daemon hands us ``publish``.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import queue
import re
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import trio

from ..errors import ApiError
from ..ids import IdClock
from . import startcheck
from .health import StorageHealth, kind_of
from .writecache import WriteCache

log = logging.getLogger(__name__)
T = TypeVar("T")

#: What the current HTTP request says about itself for the audit log: ``(reason, ip)``.
#: The app sets it per request (``X-Audit-Log-Reason``, client address); ``Database.write``
#: captures it into the job, and the write job sees it as ``tx.meta`` (storage/audit.py).
REQUEST_META: ContextVar[tuple[str | None, str | None]] = ContextVar("request_meta", default=(None, None))

_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
MAX_BATCH = 256


class Event:
    """One gateway dispatch to publish after commit.

    ``type``: event name (``MESSAGE_CREATE``); ``data``: the JSON-able payload, or a
    mapping user_id -> payload when each receiver gets its own view (``per_user=True``);
    ``users``: the receiving user ids, taken inside the transaction (API.md §6.7);
    ``exclude_session``: a gateway session id that must not receive it (the sender's own
    PRESENCE_UPDATE echo).
    """

    __slots__ = ("type", "data", "users", "per_user", "exclude_session")

    def __init__(
        self,
        type: str,  # noqa: A002 - the contract's word
        data: Any,
        users: frozenset[str] | set[str],
        *,
        per_user: bool = False,
        exclude_session: str | None = None,
    ) -> None:
        self.type, self.data, self.users = type, data, frozenset(users)
        self.per_user, self.exclude_session = per_user, exclude_session

    def __repr__(self) -> str:
        return f"Event({self.type}, users={len(self.users)})"


class Tx:
    """What a write job sees: the writer connection, the id clock, its commit actions and the
    request's audit meta ``(reason, ip)`` (see REQUEST_META)."""

    __slots__ = ("conn", "_clock", "actions", "cache", "meta")

    def __init__(
        self, conn: sqlite3.Connection, clock: IdClock, cache: WriteCache,
        meta: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.conn = conn
        self.meta = meta
        self._clock = clock
        self.cache = cache  # writer-only access facts, see storage/writecache.py
        self.actions: list[Event | Callable[[], None]] = []

    def new_id(self) -> tuple[str, str]:
        """A fresh UUIDv7 and its ``created_at`` (monotonic in commit order)."""
        return self._clock.next()

    def now(self) -> str:
        return self._clock.next()[1]

    def emit(self, event: Event) -> None:
        """Publish ``event`` after COMMIT, in job order (nothing if the job fails)."""
        self.actions.append(event)

    def on_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` on the trio thread after COMMIT, in order with the events."""
        self.actions.append(fn)


class _Job:
    __slots__ = ("fn", "done", "result", "error", "actions", "meta")

    def __init__(self, fn: Callable[[Tx], Any]) -> None:
        self.fn = fn
        self.meta = REQUEST_META.get()
        self.done = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.actions: list[Event | Callable[[], None]] = []


@contextlib.contextmanager
def integrity(mapping: dict[str, str]) -> Iterator[None]:
    """Map ``sqlite3.IntegrityError`` to domain errors by constraint text.

    ``mapping``: substring of SQLite's message (``users.username_fold``) -> API code.
    An unmapped integrity error is re-raised (a bug: it becomes a 500 and is logged).
    """
    try:
        yield
    except sqlite3.IntegrityError as exc:
        text = str(exc)
        for needle, code in mapping.items():
            if needle in text:
                raise ApiError(code) from None
        raise


def connect(
    path: Path, synchronous: str, *, reader: bool, busy_timeout_ms: int = 10_000,
    journal_size_limit: int = 4_194_304,
) -> sqlite3.Connection:
    """A connection set up as the daemon's: autocommit, Row rows, foreign keys, busy
    timeout (ms), ``synchronous`` ("normal" | "full"), the WAL size limit (bytes, see
    storage/maintenance.py), our SQL functions; readers are query-only with a larger page
    cache and a memory map."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute(f"PRAGMA journal_size_limit = {int(journal_size_limit)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'full' else 'NORMAL'}")
    # Deleted content is overwritten where that costs no extra I/O (deleted messages
    # should not linger in free space).
    conn.execute("PRAGMA secure_delete = FAST")
    if reader:
        conn.execute("PRAGMA query_only = 1")
        # Searches over large servers read many pages: a bigger page cache, and a memory
        # map (address space only; pages are the OS page cache's) keeps reads of a
        # database up to 2 GiB off the read() path.
        conn.execute("PRAGMA cache_size = -8000")
        conn.execute("PRAGMA mmap_size = 2147483648")
    _register_functions(conn)
    return conn


def unsigned_file_url(attachment_id: str, filename: str) -> str:
    """``together_file_url`` on connections outside a daemon (tools, tests, benches): the
    path without a signature. The daemon's Database registers its signer instead."""
    return f"/files/{attachment_id}/{filename}"


def _register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("together_file_url", 2, unsigned_file_url)
    try:
        from ..search.segment import register_sql_functions
    except ImportError:  # search not built yet
        return
    register_sql_functions(conn)


def probe_fts5(conn: sqlite3.Connection) -> None:
    """Create and drop a test FTS5 table; raise RuntimeError naming FTS5 if unavailable."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp.fts5_probe")
    except sqlite3.OperationalError as exc:
        raise RuntimeError(
            f"this SQLite ({sqlite3.sqlite_version}) has no FTS5 support, which search needs: {exc}"
        ) from None


def migration_files() -> list[tuple[int, str, str]]:
    """``[(version, filename, sql)]`` from the package's migrations folder, in order."""
    folder = importlib.resources.files("together_server.storage") / "migrations"
    found: dict[int, tuple[str, str]] = {}
    for entry in folder.iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if not m:
            continue
        version = int(m.group(1))
        if version in found:
            raise RuntimeError(f"duplicate migration number {version}: {entry.name}, {found[version][0]}")
        found[version] = (entry.name, entry.read_text(encoding="utf-8"))
    return [(v, name, sql) for v, (name, sql) in sorted(found.items())]


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded in ``schema_migrations``; returns their names.

    Each file runs in its own transaction together with its record, so a failed migration
    leaves nothing behind.
    """
    _register_functions(conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        script = (
            f"BEGIN IMMEDIATE;\n{sql}\n;"
            f"INSERT INTO schema_migrations(version, name, applied_at)"
            f" VALUES ({version}, '{name}', strftime('%Y-%m-%dT%H:%M:%fZ','now'));\nCOMMIT;"
        )
        try:
            conn.executescript(script)
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(name)
    newest = max((v for v, _n, _s in migration_files()), default=0)
    if conn.execute("PRAGMA user_version").fetchone()[0] < newest:
        # the schema version a newer/older program compares with (storage/startcheck.py)
        conn.execute(f"PRAGMA user_version = {newest}")
    return applied


class Database:
    """SQLite at ``path``: one writer thread (group commit) + ``readers`` reader connections.

    Use as ``async with Database(...).open() as db``. ``publish(events)`` is called on the
    trio thread after each COMMIT with the events of that commit, in job order.
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "normal",
        readers: int = 4,
        publish: Callable[[list[Event]], None] | None = None,
        busy_timeout_ms: int = 10_000,
        journal_size_limit: int = 4_194_304,
        allow_empty: bool = False,
        quick_check: bool = True,
        quick_check_max_seconds: float = 30.0,
        file_url: Callable[[str, str], str] | None = None,
    ) -> None:
        self.path = path
        # SQL function together_file_url(attachment_id, filename) -> signed URL path, so
        # every Message rendered on any connection carries fresh file links (issue 10).
        self.file_url = file_url or unsigned_file_url
        self.synchronous = synchronous
        self._conn_options = {"busy_timeout_ms": busy_timeout_ms, "journal_size_limit": journal_size_limit}
        self._checks = {"allow_empty": allow_empty, "quick_check": quick_check, "max_seconds": quick_check_max_seconds}
        self.publish = publish or (lambda events: None)
        self._n_readers = readers
        self._readers: deque[sqlite3.Connection] = deque()
        self._limiter = trio.CapacityLimiter(readers)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._writer: sqlite3.Connection | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self.clock = IdClock()
        self.cache = WriteCache()
        self.health = StorageHealth(path)  # full disk / outside lock: /health and the 507/503 answers
        self.commits = 0  # statistics: transactions committed
        self.jobs = 0  # statistics: jobs run

    @contextlib.asynccontextmanager
    async def open(self) -> Any:
        self._token = trio.lowlevel.current_trio_token()
        await trio.to_thread.run_sync(self._open_sync)
        self._thread = threading.Thread(target=self._writer_loop, name="together-writer", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            with trio.CancelScope(shield=True):
                await self.close()

    def _open_sync(self) -> None:
        """Open, check (storage/startcheck.py) and migrate; every refusal is a one-line
        StartRefused (a RuntimeError) naming the file."""
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            startcheck.check_file(self.path, allow_empty=self._checks["allow_empty"])
            self._open_checked()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed", I/O
            raise startcheck.StartRefused(f"cannot use the database {self.path}: {exc}") from None
        except OSError as exc:
            where = exc.filename or self.path
            raise startcheck.StartRefused(f"cannot use the database file {where}: {exc.strerror}") from None

    def _open_checked(self) -> None:
        writer = connect(self.path, self.synchronous, reader=False, **self._conn_options)
        try:
            known = {version: name for version, name, _sql in migration_files()}
            startcheck.check_version(writer, self.path, known, _program_version())
            if self._checks["quick_check"]:
                took = startcheck.quick_check(writer, self.path, self._checks["max_seconds"])
                log.info("quick_check of %s: ok in %.2f s", self.path.name, took)
            mode = writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except BaseException:
            writer.close()
            raise
        if mode.lower() != "wal":
            raise RuntimeError(f"could not switch {self.path} to WAL mode (got {mode})")
        probe_fts5(writer)
        applied = apply_migrations(writer)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        self.cache.install(writer)
        writer.create_function("together_file_url", 2, self.file_url)
        # Messages, DMs, emails and password hashes: readable by the server's user only.
        for suffix in ("", "-wal", "-shm"):
            f = self.path.with_name(self.path.name + suffix)
            if f.exists():
                f.chmod(0o600)
        self._writer = writer
        for _ in range(self._n_readers):
            reader = connect(self.path, self.synchronous, reader=True, **self._conn_options)
            reader.create_function("together_file_url", 2, self.file_url)
            self._readers.append(reader)

    async def close(self) -> None:
        """Drain the writer, checkpoint the WAL (TRUNCATE) and close every connection."""
        if self._thread is not None:
            self._queue.put(None)
            await trio.to_thread.run_sync(self._thread.join)
            self._thread = None
        if self._writer is not None:
            writer = self._writer
            self._writer = None

            def finish() -> None:
                try:
                    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    # A full disk (or an outside lock): nothing is lost, every committed
                    # transaction is in the WAL, which SQLite applies at the next start.
                    log.warning("checkpoint deferred (%s): the WAL %s-wal is kept and is applied "
                                "at the next start", exc, self.path)
                finally:
                    writer.close()
            await trio.to_thread.run_sync(finish)
        while self._readers:
            self._readers.pop().close()

    # -- reads -----------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on a reader connection in a worker thread.

        A read refused by storage (locked beyond the busy timeout) raises ApiError 503
        ``database_busy`` (storage/health.py); other errors propagate."""
        async with self._limiter:
            conn = self._readers.pop()
            try:
                return await trio.to_thread.run_sync(_run_read, conn, fn, args)
            except sqlite3.Error as exc:
                kind = kind_of(exc, self.path.parent)
                if kind is None:
                    raise
                raise self.health.refused(kind, exc, "read") from None
            finally:
                self._readers.append(conn)

    # -- writes ----------------------------------------------------------------------

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn(tx)`` in the writer's next transaction; returns after COMMIT.

        Raises whatever ``fn`` raised (its savepoint rolled back). If the caller is
        cancelled the job still runs and still publishes (DESIGN.md "Publication").
        A write refused by storage raises ApiError 507 ``insufficient_storage`` (disk full)
        or 503 ``database_busy`` (locked beyond the busy timeout); nothing of it is kept.
        """
        job = _Job(fn)
        self._queue.put(job)
        await job.done.wait()
        if job.error is not None:
            kind = kind_of(job.error, self.path.parent)
            if kind is not None:
                raise self.health.refused(kind, job.error) from None
            raise job.error
        return job.result  # type: ignore[no-any-return]

    def _writer_loop(self) -> None:
        conn = self._writer
        assert conn is not None and self._token is not None
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._run_batch(conn, batch)
            if stop:
                return

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # locked beyond the busy timeout, disk full, I/O error
            self._fail_batch(conn, batch, exc)
            return
        for job in batch:
            try:
                conn.execute("SAVEPOINT job")
                tx = Tx(conn, self.clock, self.cache, job.meta)
                try:
                    job.result = job.fn(tx)
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    job.error = exc
                    if not conn.in_transaction:
                        # SQLite rolled the whole transaction back (disk full, I/O error):
                        # the jobs before this one are gone too.
                        raise
                    conn.execute("ROLLBACK TO job")
                    self.cache.clear()
                else:
                    job.actions = tx.actions
                conn.execute("RELEASE job")
            except BaseException as exc:  # noqa: BLE001 - the transaction is lost
                self._fail_batch(conn, batch, exc)
                return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._fail_batch(conn, batch, exc)
            return
        self.commits += 1
        self.jobs += len(batch)
        self._deliver_soon(batch, committed=any(job.error is None for job in batch))

    def _fail_batch(self, conn: sqlite3.Connection, batch: list[_Job], exc: BaseException) -> None:
        """The batch's transaction cannot commit: every job fails (with its own error if it
        had one, else ``exc``), nothing is published. A storage refusal (storage/health.py) is
        logged there, once per interval; anything else is a bug and logged here."""
        if kind_of(exc, self.path.parent) is None:
            log.error("transaction failed", exc_info=exc)
        self.cache.clear()
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        for job in batch:
            job.error = job.error or exc
            job.actions = []
        self._deliver_soon(batch, committed=False)

    def _deliver_soon(self, batch: list[_Job], *, committed: bool) -> None:
        assert self._token is not None
        try:
            self._token.run_sync_soon(self._deliver, batch, committed)
        except trio.RunFinishedError:
            pass

    def _deliver(self, batch: list[_Job], committed: bool) -> None:
        """On the trio thread: commit actions in job order, then wake the handlers."""
        if committed:
            self.health.ok()
        events: list[Event] = []
        for job in batch:
            for action in job.actions:
                if isinstance(action, Event):
                    events.append(action)
                else:
                    if events:
                        self._publish(events)
                        events = []
                    try:
                        action()
                    except Exception:
                        log.exception("commit action failed")
        if events:
            self._publish(events)
        for job in batch:
            job.done.set()

    def _publish(self, events: list[Event]) -> None:
        try:
            self.publish(events)
        except Exception:
            log.exception("publish failed")


def _program_version() -> str:
    from .. import __version__

    return __version__


def _run_read(conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    try:
        return fn(conn, *args)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
