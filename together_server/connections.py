"""Accepting TCP connections without running out of descriptors (issue 15 part 3).

:func:`serve` runs the app on hypercorn's per-connection machinery (``TCPServer``), like
``hypercorn.trio.serve``, but with our own accept loop, because trio's
``serve_listeners`` (which hypercorn uses) logs a traceback every 100 ms while
``accept()`` fails with ``EMFILE`` and has no notion of who is connecting:

* **Per-IP cap.** At most ``server.max_connections_per_ip`` open connections per client
  address (IPv6 counted by its /64, as the rate limiter does). The next one gets a
  ``429 too_many_connections`` with ``Connection: close`` and is closed. Connections from
  the machine itself (``127.0.0.1``, ``::1``) and from ``server.trusted_proxies`` are not
  capped: a reverse proxy carries everyone's connections.
* **Descriptor reserve.** Accepting pauses (the kernel keeps new connections in the
  listen backlog) while the open connections leave fewer than :data:`RESERVE` of the
  process's descriptors free, so the database and uploads still get theirs.
* **accept() failures** (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``) back off from
  0.1 s up to 2 s and are logged once per :data:`LOG_INTERVAL`, never per connection.

:func:`raise_descriptor_limit` lifts the soft ``RLIMIT_NOFILE`` to the hard limit (capped
at 65,536) at start, as servers should (the soft default of 1,024 is for select()).
"""

from __future__ import annotations

import errno
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import ShutdownError, raise_shutdown, repr_socket_addr, wrap_app

from .errors import error_body
from .netaddr import IPNetwork
from .ratelimit import _is_trusted, _parse_ip, ip_key

log = logging.getLogger("together_server.connections")

ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
LOG_INTERVAL = 30.0  # seconds between two log lines about the same trouble
BACKOFF_MIN, BACKOFF_MAX = 0.1, 2.0  # seconds to wait after a failed accept()
RESERVE = 64  # descriptors kept free for the database, files and the log
DESCRIPTOR_CEILING = 65_536  # the soft RLIMIT_NOFILE we raise to, at most
REFUSE_LINGER = 1.0  # seconds a refused client has to read its 429
LOOPBACK = ("127.0.0.1", "::1")


class Throttled:
    """Logs a recurring condition once per ``interval`` seconds, counting the rest."""

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL) -> None:
        self._log = logger
        self._interval = interval
        self._last = -float("inf")
        self._quiet = 0

    def warning(self, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            self._quiet += 1
            return
        if self._quiet:
            msg += " (%d more times in the last %.0f s)"
            args = (*args, self._quiet, now - self._last)
        self._last, self._quiet = now, 0
        self._log.warning(msg, *args)


def descriptor_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` (descriptors this process may hold)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_descriptor_limit() -> int:
    """Lift the soft ``RLIMIT_NOFILE`` towards the hard limit (at most
    :data:`DESCRIPTOR_CEILING`); returns the soft limit now in force. Never raises."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = DESCRIPTOR_CEILING if hard == resource.RLIM_INFINITY else min(hard, DESCRIPTOR_CEILING)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            return want
        except (ValueError, OSError):
            pass
    return soft


class ConnectionGuard:
    """Counts open connections, per client key and in total (one per daemon).

    ``per_ip`` is the cap per client address (0 = none); ``exempt`` the networks never
    capped (trusted proxies); ``max_open`` the total above which accepting pauses.
    """

    def __init__(self, per_ip: int, exempt: Sequence[IPNetwork], max_open: int) -> None:
        self.per_ip = per_ip
        self.exempt = tuple(exempt)
        self.max_open = max(1, max_open)
        self.open = 0
        self.by_key: dict[str, int] = {}
        self.refused = 0
        self._room = trio.Event()

    def key_for(self, peer: str) -> str | None:
        """The counting key of a peer address, or None when it is not capped."""
        if self.per_ip <= 0:
            return None
        parsed = _parse_ip(peer)
        if parsed is not None and (parsed[1] in LOOPBACK or _is_trusted(parsed[0], self.exempt)):
            return None
        return ip_key(peer)

    def admit(self, key: str | None) -> bool:
        """Count a new connection; False (nothing counted) when ``key`` is at its cap."""
        if key is not None:
            held = self.by_key.get(key, 0)
            if held >= self.per_ip:
                return False
            self.by_key[key] = held + 1
        self.open += 1
        return True

    def release(self, key: str | None) -> None:
        self.open -= 1
        if key is not None:
            left = self.by_key.get(key, 1) - 1
            if left > 0:
                self.by_key[key] = left
            else:
                self.by_key.pop(key, None)
        if self.open < self.max_open:
            self._room.set()

    async def wait_for_room(self, throttled: Throttled) -> None:
        while self.open >= self.max_open:
            throttled.warning(
                "%d connections open, %d descriptors allowed: not accepting until one closes",
                self.open, descriptor_limit(),
            )
            self._room = trio.Event()
            await self._room.wait()


def _refusal() -> bytes:
    body = orjson.dumps(error_body(
        "too_many_connections", "Too many connections from your address",
        extra={"retry_after": 1},
    ))
    head = (
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


REFUSAL = _refusal()


async def _refuse(stream: trio.SocketStream, plain: bool) -> None:
    """Answer 429 and close; bounded by :data:`REFUSE_LINGER`. Reading what the client sent
    (until it closes) keeps the kernel from resetting the connection over our answer."""
    try:
        with trio.move_on_after(REFUSE_LINGER):
            if plain:
                await stream.send_all(REFUSAL)
                await stream.send_eof()
                while await stream.receive_some(16_384):
                    pass
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def _accept_loop(
    listener: trio.SocketListener, ssl_context: Any, nursery: trio.Nursery,
    handle: Callable[[trio.abc.Stream, str | None], Awaitable[None]], guard: ConnectionGuard,
) -> None:
    full, failing, refused = Throttled(log), Throttled(log), Throttled(log)
    delay = BACKOFF_MIN
    async with listener:
        while True:
            await guard.wait_for_room(full)
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                    raise
                failing.warning(
                    "cannot accept connections: %s (%s); %d open, descriptor limit %d; retrying",
                    errno.errorcode.get(exc.errno or 0, "?"), exc.strerror, guard.open, descriptor_limit(),
                )
                await trio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            delay = BACKOFF_MIN
            try:
                peer = str(stream.socket.getpeername()[0])
            except OSError:  # already gone
                await trio.aclose_forcefully(stream)
                continue
            key = guard.key_for(peer)
            if not guard.admit(key):
                guard.refused += 1
                refused.warning("refused a connection from %s: %d already open (server.max_connections_per_ip)",
                                key, guard.per_ip)
                guard.open += 1  # the refusal holds a descriptor for a moment too
                nursery.start_soon(_refuse_counted, stream, ssl_context is None, guard)
                continue
            if ssl_context is not None:
                nursery.start_soon(handle, trio.SSLStream(stream, ssl_context, server_side=True,
                                                          https_compatible=True), key)
            else:
                nursery.start_soon(handle, stream, key)


async def _refuse_counted(stream: trio.SocketStream, plain: bool, guard: ConnectionGuard) -> None:
    try:
        await _refuse(stream, plain)
    finally:
        guard.release(None)


async def serve(
    app: Any, config: HypercornConfig, guard: ConnectionGuard, *,
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` (ASGI) as ``hypercorn.trio.serve`` does, with our accept loop.

    Reports the bound URLs through ``task_status``. After ``shutdown_trigger`` returns the
    listeners close, hypercorn's ``terminated`` event is set and connections get
    ``config.graceful_timeout`` seconds to finish. Raises OSError when binding fails.
    """
    config.set_statsd_logger_class(StatsdLogger)
    wrapped = wrap_app(app, config.wsgi_max_body_size, None)
    lifespan_state: dict[str, Any] = {}
    lifespan = Lifespan(wrapped, config, lifespan_state)
    context = WorkerContext(None)

    async def handle(stream: trio.abc.Stream, key: str | None) -> None:
        try:
            await TCPServer(wrapped, config, context, ConnectionState(lifespan_state.copy()), stream)
        finally:
            guard.release(key)
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as server_nursery:
            sockets = config.create_sockets()
            ssl_context = config.create_ssl_context()
            listeners: list[tuple[trio.SocketListener, Any]] = []
            binds = []
            for secure, group in ((True, sockets.secure_sockets), (False, sockets.insecure_sockets)):
                for sock in group:
                    sock.listen(config.backlog)
                    listeners.append((trio.SocketListener(trio.socket.from_stdlib_socket(sock)),
                                      ssl_context if secure else None))
                    scheme = "https" if secure else "http"
                    binds.append(f"{scheme}://{repr_socket_addr(sock.family, sock.getsockname())}")
            task_status.started(binds)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(raise_shutdown, shutdown_trigger)
                    for listener, ctx in listeners:
                        nursery.start_soon(_accept_loop, listener, ctx, server_nursery, handle, guard)
            except BaseExceptionGroup as error:
                _, other = error.split((ShutdownError, KeyboardInterrupt))
                if other is not None:
                    raise other from None
            finally:
                await context.terminated.set()
                server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
