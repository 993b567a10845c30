"""Test harness: the real daemon on 127.0.0.1:0 with a temp data dir, real HTTP clients.

Two ways to get a daemon:

* ``daemon`` (function scope): started in the test's own nursery with
  ``nursery.start(run_daemon, cfg)``; use it when a test needs its own config or stops
  the server.
* ``shared`` (module scope): one daemon per test module, run by ``trio.run`` in a
  background thread, so tests of a module share its start-up cost. Tests talk to it
  over real sockets only.

Both lower the argon2 cost through the documented ``auth.argon2_*`` settings and turn
rate limiting off unless a test asks for it. ``Api`` wraps an httpx client; ``new_user``
registers a user and returns an ``Api`` already carrying its access token.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio

from together_server.config import Config, structure_config
from together_server.daemon import Running, run_daemon
from together_server.storage.db import Event

SHARED_DATA = Path(os.environ.get("TOGETHER_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
_names = itertools.count()


def make_config(data_dir: Path, **sections: dict[str, Any]) -> Config:
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": str(data_dir), "shutdown_grace_seconds": 2.0},
        "auth": {"argon2_memory_kib": 64, "argon2_time_cost": 1},
        "ratelimit": {"enabled": False},
        # Connect/disconnect presence unbatched, so it arrives before a later write's
        # event (the sentinel checks rely on that); the default window is tested in
        # test_gateway_scale.py.
        "gateway": {"presence_window_ms": 0},
    }
    for key, values in sections.items():
        raw[key] = {**raw.get(key, {}), **values}
    return structure_config(raw)


class ThreadDaemon:
    """A daemon in its own thread and trio loop (module-scoped sharing)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.running: Running | None = None
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                self.running = await nursery.start(lambda task_status: run_daemon(
                    self.cfg, task_status=task_status, install_signal_handlers=False))
                self._ready.set()
        try:
            trio.run(main)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._ready.set()

    def start(self) -> Running:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        assert self.running is not None
        return self.running

    def stop(self) -> None:
        if self.running is not None and self._token is not None:
            try:
                self._token.run_sync_soon(self.running.shutdown)
            except trio.RunFinishedError:
                pass
        self._thread.join(30)


class Api:
    """A real HTTP client bound to one daemon and (optionally) one user's token."""

    def __init__(self, base_url: str, token: str | None = None, user: dict[str, Any] | None = None,
                 refresh_token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self.user = user or {}
        self.refresh_token = refresh_token
        self.client = httpx.AsyncClient(base_url=base_url, timeout=30)

    @property
    def id(self) -> str:
        return str(self.user["id"])

    async def request(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if auth and self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        return await self.client.request(method, path, headers=headers, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- conveniences ------------------------------------------------------------------

    async def server(self, name: str = "Test server", **fields: Any) -> dict[str, Any]:
        r = await self.post("/servers", json={"name": name, **fields})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def channel(self, server_id: str, name: str = "general", type: str = "text") -> dict[str, Any]:  # noqa: A002
        r = await self.post(f"/servers/{server_id}/channels", json={"name": name, "type": type})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def send(self, channel_id: str, content: str, **fields: Any) -> dict[str, Any]:
        r = await self.post(f"/channels/{channel_id}/messages", json={"content": content, **fields})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    async def invite_and_join(self, server_id: str, other: Api) -> None:
        r = await self.post(f"/servers/{server_id}/invites", json={})
        assert r.status_code == 201, r.text
        r2 = await other.post(f"/invites/{r.json()['code']}/accept")
        assert r2.status_code == 201, r2.text


def unique(prefix: str = "user") -> str:
    return f"{prefix}{os.getpid() % 1000}_{next(_names)}"


class Users:
    """Factory: ``await users.new("alice")`` registers and returns a logged-in Api."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.made: list[Api] = []

    async def new(self, prefix: str = "user", **extra: Any) -> Api:
        anon = Api(self.base_url)
        name = unique(prefix)
        r = await anon.post("/auth/register", json={"username": name, "password": "correct horse", **extra})
        assert r.status_code == 201, r.text
        body = r.json()
        anon.token, anon.user, anon.refresh_token = body["access_token"], body["user"], body["refresh_token"]
        self.made.append(anon)
        return anon

    def anonymous(self) -> Api:
        api = Api(self.base_url)
        self.made.append(api)
        return api

    async def close(self) -> None:
        for api in self.made:
            await api.aclose()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One daemon for the whole test module (default config, rate limits off)."""
    d = ThreadDaemon(make_config(tmp_path_factory.mktemp("shared")))
    running = d.start()
    yield running
    d.stop()


@pytest.fixture
async def daemon(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Running]:
    """A daemon in this test's nursery (default test config)."""
    running: Running = await nursery.start(lambda task_status: run_daemon(
        make_config(tmp_path / "data"), task_status=task_status, install_signal_handlers=False))
    yield running
    running.shutdown()


@pytest.fixture
async def users(shared: Running) -> AsyncIterator[Users]:
    u = Users(shared.url)
    yield u
    await u.close()


def corpus(name: str = "chat-lines-en.txt") -> list[str]:
    return (SHARED_DATA / name).read_text(encoding="utf-8").splitlines()


class Recorder:
    """What one user would receive: every published event whose audience names them
    (their own view of a per-receiver event), as ``(type, data)`` through JSON."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.events: list[tuple[str, Any]] = []

    def take(self, event: Event) -> None:
        if self.user_id in event.users:
            data = event.data[self.user_id] if event.per_user else event.data
            self.events.append((event.type, orjson.loads(orjson.dumps(data))))

    def types(self) -> list[str]:
        return [t for t, _ in self.events]

    def of(self, event_type: str) -> list[Any]:
        return [d for t, d in self.events if t == event_type]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def record(shared: Running) -> Iterator[Any]:
    """``rec = record(api)``: the events published for that user from now on.

    Taps the storage writer's publication (what the hub is handed after each COMMIT, in
    commit order, with the audience taken inside the transaction), so it does not depend
    on gateway sockets. Events are published before the handler wakes, so a REST call's
    events are all recorded when its answer arrives.
    """
    db = shared.state.db
    original = db.publish
    made: list[Recorder] = []

    def publish(events: Any) -> None:
        events = list(events)
        for event in events:
            for rec in made:
                rec.take(event)
        original(events)

    db.publish = publish

    def start(api: Api) -> Recorder:
        rec = Recorder(api.id)
        made.append(rec)
        return rec

    yield start
    db.publish = original
