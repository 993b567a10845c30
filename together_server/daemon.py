"""The root nursery: storage, hub, HTTP server, background jobs, signals (STYLE.md §2, §4).

``run_daemon(config, task_status=...)`` is the whole server. It reports a
:class:`Running` handle through ``task_status.started`` once it listens, so tests start
it with ``await nursery.start(run_daemon, cfg)`` on ``127.0.0.1:0``. Shutdown (SIGINT,
SIGTERM or ``Running.shutdown()``): gateway sessions get 1001, hypercorn stops and waits
up to ``server.shutdown_grace_seconds`` for requests in flight, the writer drains, the
WAL is checkpointed, and the function returns (exit status 0).
"""

from __future__ import annotations

import errno
import fcntl
import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio
from hypercorn.config import Config as HypercornConfig

from . import connections, serving, webhook_delivery
from .api import admin as admin_api
from .api.uploads import FileService
from .app import create_app
from .auth.passwords import Passwords
from .auth.request import Authenticator
from .auth.tokens import Revocations, Tokens, load_or_create_secret
from .clock import format_us, now_us
from .config import Config
from .files.signing import UrlSigner
from .gateway import compat
from .gateway.hub import Hub
from .state import AppState
from .storage import accounts, attachments, audit, servers
from .storage import admin as admin_store
from .storage.blobs import BlobStore
from .storage.bots import BotRegistry
from .storage.db import Database
from .storage.health import is_refusal, kind_of
from .storage.maintenance import Checkpointer, recheck_storage

log = logging.getLogger("together_server")

STORAGE_RECHECK_SECONDS = 5.0  # while the disk is full: how often a one-page write is tried
GC_GEN0_THRESHOLD = 10_000  # allocations between young-generation collections (CPython: 700)
PURGE_INTERVAL_SECONDS = 2.0  # attachments housekeeping: pending messages, blob purge (issue 10)

class DaemonError(Exception):
    """A refused start (exit status 1): the message says why."""


class _Reporter:
    """A task_status that forwards ``started`` to a callback (to learn that hypercorn
    bound its sockets before an error that may follow)."""

    def __init__(self, fn: Callable[[list[str]], None]) -> None:
        self._fn = fn

    def started(self, value: list[str]) -> None:
        self._fn(value)


E = TypeVar("E", bound=BaseException)


def _find(exc: BaseException, kind: type[E]) -> E | None:
    """The first ``kind`` exception in ``exc``, looking inside exception groups."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            found = _find(sub, kind)
            if found is not None:
                return found
    return None


def find_daemon_error(exc: BaseException) -> DaemonError | None:
    """The DaemonError inside ``exc`` (possibly nested in exception groups), if any."""
    return _find(exc, DaemonError)


@attrs.define
class Running:
    """Handle on a running daemon: where it listens and how to stop it."""

    url: str
    host: str
    port: int
    state: AppState
    shutdown: Callable[[], None]


class DataDirLock:
    """An exclusive ``flock`` on ``<data_dir>/together.lock`` for the daemon's lifetime."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "together.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise DaemonError(
                    f"another together-server is already running with data directory {self.path.parent}"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _startup_reset(conn: Any) -> None:
    """Presence is derived from live sessions, so nothing to reset there; voice states
    (if that table exists) are cleared without events (API.md §6.5), and with them every
    Go Live stream (a stream ends with its voice state, issue 12)."""
    has_voice = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'voice_states'"
    ).fetchone()
    if has_voice:
        conn.execute("DELETE FROM go_live_streams")
        conn.execute("DELETE FROM voice_states")


def _hypercorn_config(cfg: Config, drained: trio.Event) -> HypercornConfig:
    serving.install()  # connection guards (see serving.py)
    compat.install()  # the client's WebSocket close code reaches the gateway; batched frame writes
    hc = HypercornConfig()
    host = cfg.server.host
    hc.bind = [f"[{host}]:{cfg.server.port}" if ":" in host else f"{host}:{cfg.server.port}"]
    hc.graceful_timeout = cfg.server.shutdown_grace_seconds
    hc.websocket_max_message_size = cfg.gateway.max_frame_bytes
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.include_server_header = False
    hc.keep_alive_timeout = cfg.server.keep_alive_timeout_seconds
    hc.together_body_timeout = cfg.server.body_timeout_seconds  # read by serving.py
    hc.together_body_min_rate = float(cfg.server.body_min_bytes_per_second)
    hc.together_drained = drained  # idle keep-alive connections close once it is set
    return hc


def _connection_guard(st: AppState) -> connections.ConnectionGuard:
    limit = connections.raise_descriptor_limit()
    return connections.ConnectionGuard(
        per_ip=st.config.server.max_connections_per_ip, exempt=st.trusted_proxies,
        max_open=limit - connections.RESERVE,
    )


async def _every(seconds: float, fn: Callable[[], Any]) -> None:
    while True:
        await trio.sleep(seconds)
        try:
            result = fn()
            if hasattr(result, "__await__"):
                await result
        except Exception as exc:
            if not is_refusal(exc):  # a full disk / outside lock is logged by StorageHealth
                log.exception("background job failed")


async def _restarting(loop: Callable[..., Any], *args: Any) -> None:
    """Run a background write loop; a storage refusal (disk full, outside lock) pauses it
    for STORAGE_RECHECK_SECONDS instead of ending the daemon (issue 15 §4)."""
    while True:
        try:
            await loop(*args)
            return
        except Exception as exc:
            if not is_refusal(exc):
                raise
        await trio.sleep(STORAGE_RECHECK_SECONDS)


def _checkpoint_failed(db: Database, exc: BaseException) -> None:
    kind = kind_of(exc, db.path.parent)
    if kind == "full":
        db.health.refused(kind, exc, "checkpoint")
    else:
        log.warning("background checkpoint failed: %s", exc)


async def run_daemon(
    cfg: Config, *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
    install_signal_handlers: bool = True, init_empty_database: bool = False,
) -> None:
    """Run the whole server until shutdown (SIGINT/SIGTERM or ``Running.shutdown()``).

    Creates and locks the data directory, opens the database, starts the gateway hub, background
    jobs and HTTP, then reports a :class:`Running` through ``task_status.started``. Raises
    DaemonError on a refused start (data dir, lock held, FTS5/WAL missing, bind failure; a
    damaged, newer, empty or unreadable database, issue 15 §5), its message one line naming
    the file. ``init_empty_database`` (``serve --init``) lets a 0-byte together.db become a
    new database. API.md §9.
    """
    data_dir = cfg.data_path
    try:
        await trio.to_thread.run_sync(lambda: data_dir.mkdir(mode=0o700, parents=True, exist_ok=True))
    except OSError as exc:
        raise DaemonError(f"cannot create data directory {data_dir}: {exc.strerror}") from None
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except OSError as exc:
        raise DaemonError(f"cannot open the lock file {lock.path}: {exc.strerror}") from None
    try:
        await _serve(cfg, data_dir, task_status, install_signal_handlers, init_empty_database)
    finally:
        lock.release()


async def _serve(
    cfg: Config, data_dir: Path, task_status: trio.TaskStatus[Running], install_signal_handlers: bool,
    init_empty_database: bool,
) -> None:
    try:
        secret = cfg.auth.jwt_secret or await trio.to_thread.run_sync(load_or_create_secret, data_dir)
    except OSError as exc:
        raise DaemonError(f"cannot read or create the JWT secret {exc.filename or data_dir}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DaemonError(f"the JWT secret {data_dir / 'jwt-secret'} is not text: remove it to "
                          "generate a new one (everyone signs in again)") from None
    hub = Hub()
    signer = UrlSigner(secret, cfg.attachments.url_ttl_seconds)
    blobs = BlobStore(data_dir / "blobs")
    await trio.to_thread.run_sync(blobs.prepare)  # unfinished uploads of an earlier run go
    db = Database(
        data_dir / "together.db", synchronous=cfg.database.synchronous,
        readers=cfg.database.reader_connections, publish=hub.publish, file_url=signer.url,
        busy_timeout_ms=cfg.database.busy_timeout_ms, journal_size_limit=cfg.database.journal_size_limit_bytes,
        allow_empty=init_empty_database, quick_check=cfg.database.quick_check_at_start,
        quick_check_max_seconds=cfg.database.quick_check_max_seconds,
    )
    try:
        opener = db.open()
        await opener.__aenter__()
    except RuntimeError as exc:  # FTS5 missing, WAL refused, StartRefused (storage/startcheck.py)
        raise DaemonError(str(exc)) from None
    checkpointer = Checkpointer(db, journal_size_limit=cfg.database.journal_size_limit_bytes,
                                on_error=lambda exc: _checkpoint_failed(db, exc))
    try:
        await checkpointer.open()
        tokens = Tokens(secret, cfg.auth.access_token_ttl_seconds)
        revocations = Revocations(cfg.auth.access_token_ttl_seconds)
        since = format_us(now_us() - (cfg.auth.access_token_ttl_seconds + 60) * 1_000_000)
        for sid in await db.read(accounts.recently_ended, since):
            revocations.end("session", sid)
        await db.write(lambda tx: _startup_reset(tx.conn))
        bots = BotRegistry()
        await db.read(bots.load)
        revocations.listeners.append(bots.on_revocation)
        passwords = Passwords(
            memory_kib=cfg.auth.argon2_memory_kib, time_cost=cfg.auth.argon2_time_cost,
            parallelism=cfg.auth.argon2_parallelism,
        )
        st = AppState(
            config=cfg, db=db, tokens=tokens, revocations=revocations,
            auth=Authenticator(tokens, revocations, bot_lookup=bots.by_hash, bot_live=bots.is_live),
            passwords=passwords, hub=hub, bots=bots,
            files=FileService(blobs, cfg.attachments), files_signer=signer,
        )
        lan = await _prepare_lan(cfg)
        st.extras["lan"] = lan
        st.extras["instance_settings"] = await db.read(admin_store.load_settings)  # /admin/settings (issue 13)
        st.extras["started_monotonic"] = time.monotonic()
        app = create_app(st)
        stop = trio.Event()

        def shutdown() -> None:
            if not stop.is_set():
                st.shutting_down = True  # new requests: 503 + Connection: close
                hub.close_all(1001, "server shutting down")
                stop.set()

        async with trio.open_nursery() as nursery:
            if install_signal_handlers:
                nursery.start_soon(_watch_signals, shutdown)
            ttl = cfg.auth.refresh_token_ttl_seconds
            nursery.start_soon(_every, 30.0, lambda: db.write(lambda tx: accounts.expire_sessions(tx, ttl, st.revoke)))
            nursery.start_soon(_every, 60.0, revocations.prune)
            if st.limiters is not None:
                nursery.start_soon(_every, 10.0, st.limiters.prune)
            nursery.start_soon(_restarting, _purge_loop, db)
            nursery.start_soon(_every, cfg.database.checkpoint_interval_seconds, checkpointer.tick)
            nursery.start_soon(_every, STORAGE_RECHECK_SECONDS, lambda: recheck_storage(db))
            hub.start(st, nursery)
            nursery.start_soon(_restarting, audit.purge_loop, db,
                               lambda: admin_api.settings(st)["audit_log_retention_days"], cfg.audit_log.purge_batch)
            nursery.start_soon(_restarting, webhook_delivery.run, db, cfg.webhooks)
            nursery.start_soon(_restarting, _attachments_loop, db, blobs, cfg.attachments.pending_seconds)
            served = trio.Event()
            st.extras["http_scope"] = http_scope = trio.CancelScope()
            st.extras["drained"] = drained = trio.Event()
            st.extras["connections"] = guard = _connection_guard(st)

            async def run_http(task_status: trio.TaskStatus[list[str]]) -> None:
                listening = False

                def started(binds: list[str]) -> None:
                    nonlocal listening
                    listening = True
                    task_status.started(binds)

                try:
                    with http_scope:
                        hc = _hypercorn_config(cfg, drained)
                        if lan is not None:
                            lan.configure(hc)
                        await connections.serve(app, hc, guard, shutdown_trigger=stop.wait,
                                                task_status=_Reporter(started))
                except (OSError, BaseExceptionGroup) as exc:  # bind failed: bad address, port in use...
                    failure = _find(exc, OSError)
                    if listening or failure is None:
                        raise
                    raise DaemonError(
                        f"cannot listen on {cfg.server.host}:{cfg.server.port}: {failure.strerror or failure}"
                    ) from None
                finally:
                    served.set()

            binds = await nursery.start(run_http)
            url = binds[0] if binds else f"http://{cfg.server.host}:{cfg.server.port}"
            host, _, port = url.rsplit("/", 1)[-1].rpartition(":")
            log.info("together-server listening on %s (data directory %s)", url, data_dir)
            if lan is not None:
                await nursery.start(lan.run)
            # Start-up objects (modules, app, routes) never die: move them out of the
            # collector's way, and collect the young generation less often: a server with
            # hundreds of sockets allocates steadily, and each full collection over a
            # large heap was a latency spike at every gateway session (DESIGN.md notes
            # the fan-out tail was mostly GC pauses).
            gc.collect()
            gc.freeze()
            gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
            task_status.started(Running(url=url, host=host.strip("[]"), port=int(port), state=st, shutdown=shutdown))
            await stop.wait()
            await _drain(st, served, cfg.server.shutdown_grace_seconds)
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await checkpointer.close()
            await opener.__aexit__(None, None, None)
        log.info("together-server stopped")


async def _prepare_lan(cfg: Config) -> Any:
    """LAN mode / HTTPS (issue 14): the bound socket + TLS context, or None when both are off
    (the LAN modules are imported only then). Raises DaemonError on a refused start."""
    if not cfg.server.lan and not cfg.server.tls_cert:
        return None
    from .lan.runtime import LanError, prepare

    try:
        return await trio.to_thread.run_sync(prepare, cfg)
    except (LanError, OSError) as exc:
        raise DaemonError(str(exc)) from None


async def _drain(st: AppState, served: trio.Event, grace: float) -> None:
    """Shutdown after the trigger: wait (up to ``grace`` seconds) for the HTTP requests in
    flight (requests arriving meanwhile on kept-alive connections get 503 + Connection:
    close), then close the idle keep-alive connections, give hypercorn a moment to finish
    on its own (gateway close frames), then cancel it."""
    with trio.move_on_after(grace):
        while st.inflight:
            await trio.sleep(0.02)
    st.extras["drained"].set()
    with trio.move_on_after(1.0):
        await served.wait()
    st.extras["http_scope"].cancel()
    with trio.move_on_after(5.0):
        await served.wait()


async def _purge_loop(db: Database) -> None:
    """Reclaim tombstoned servers in short writer jobs (DESIGN.md "Big deletes")."""
    while True:
        removed = 1
        while removed:
            removed = await db.write(servers.purge_deleted_servers)
            await trio.sleep(0)
        await trio.sleep(5.0)


async def _attachments_loop(db: Database, blobs: BlobStore, pending_seconds: int) -> None:
    """Issue 10 housekeeping, each step a short writer job: at start, queue blobs no row
    references (a crash between a blob's rename and its commit); then every few seconds
    delete pending messages whose files never came, and purge unreferenced blobs in
    batches of 100 (the bytes of deleted attachments)."""
    hashes = await trio.to_thread.run_sync(blobs.all_hashes)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start:start + 500]
        await db.write(lambda tx, chunk=chunk: attachments.queue_orphans(tx, chunk))
    while True:
        cutoff = format_us(now_us() - pending_seconds * 1_000_000)
        while await db.write(lambda tx, cutoff=cutoff: attachments.expire_pending(tx, cutoff)):
            await trio.sleep(0)
        while await db.write(lambda tx: attachments.purge_blobs(tx, blobs.delete)):
            await trio.sleep(0)
        await trio.sleep(PURGE_INTERVAL_SECONDS)


async def _watch_signals(shutdown: Callable[[], None]) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            log.info("signal received, shutting down")
            shutdown()
