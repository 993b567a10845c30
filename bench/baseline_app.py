"""Bare quart-trio endpoints the message-post benchmark compares against (same run).

MODE=lock:  one SQLite insert per request, under a trio.Lock, with a thread hop each.
MODE=group: requests queue rows; one writer thread commits whatever is queued in one
            transaction and wakes the requests after COMMIT (group commit).
Run: MODE=group DB=/tmp/x.db python -m hypercorn -k trio -b 127.0.0.1:9001 bench.baseline_app:app
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
import uuid

import orjson
import trio
from quart import Response, request
from quart_trio import QuartTrio

MODE = os.environ.get("MODE", "group")
DB = os.environ.get("DB", "/tmp/baseline.db")
app = QuartTrio(__name__)


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(DB, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, id TEXT UNIQUE,"
                 " channel_id TEXT, author_id TEXT, content TEXT, created_at TEXT)")
    return conn


conn = _connect()
lock = trio.Lock()
jobs: queue.SimpleQueue = queue.SimpleQueue()
token: trio.lowlevel.TrioToken | None = None


def _row(content: str) -> tuple[str, str, str, str, str]:
    return (str(uuid.uuid4()), "c", "a", content, time.strftime("%Y-%m-%dT%H:%M:%S"))


def _insert_one(row: tuple[str, ...]) -> None:
    conn.execute("BEGIN")
    conn.execute("INSERT INTO messages (id, channel_id, author_id, content, created_at) VALUES (?,?,?,?,?)", row)
    conn.execute("COMMIT")


def _writer() -> None:
    while True:
        batch = [jobs.get()]
        while True:
            try:
                batch.append(jobs.get_nowait())
            except queue.Empty:
                break
        conn.execute("BEGIN")
        for row, _ in batch:
            conn.execute("INSERT INTO messages (id, channel_id, author_id, content, created_at) VALUES (?,?,?,?,?)", row)
        conn.execute("COMMIT")
        assert token is not None
        token.run_sync_soon(lambda b=batch: [ev.set() for _, ev in b])


@app.before_serving
async def start() -> None:
    global token
    token = trio.lowlevel.current_trio_token()
    if MODE == "group":
        threading.Thread(target=_writer, daemon=True).start()


@app.post("/msg")
async def post() -> Response:
    data = orjson.loads(await request.get_data())
    row = _row(data["content"])
    if MODE == "lock":
        async with lock:
            await trio.to_thread.run_sync(_insert_one, row)
    else:
        ev = trio.Event()
        jobs.put((row, ev))
        await ev.wait()
    return Response(orjson.dumps({"id": row[0], "content": row[3]}), status=201, content_type="application/json")
