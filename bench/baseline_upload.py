"""The framework ceiling for uploads (issue 10): a bare quart-trio endpoint that streams
the request body (the same multipart bytes the daemon gets) to a file in worker-thread
writes, fsyncs it and answers 201. No parsing, no hashing, no database.

Run: DIR=/tmp/up python -m hypercorn -k trio -b 127.0.0.1:9002 bench.baseline_upload:app
"""

from __future__ import annotations

import os
import tempfile

import trio
from quart import Response, request
from quart_trio import QuartTrio

DIR = os.environ.get("DIR", tempfile.gettempdir())
app = QuartTrio(__name__)
app.config["MAX_CONTENT_LENGTH"] = None


@app.route("/upload", methods=["POST"])
async def upload() -> Response:
    fd, name = tempfile.mkstemp(dir=DIR)
    f = os.fdopen(fd, "wb")
    size = 0
    buf = bytearray()
    async for chunk in request.body:
        buf.extend(chunk)
        size += len(chunk)
        if len(buf) >= 1 << 20:
            data, buf = bytes(buf), bytearray()
            await trio.to_thread.run_sync(f.write, data)
    if buf:
        await trio.to_thread.run_sync(f.write, bytes(buf))
    await trio.to_thread.run_sync(f.flush)
    await trio.to_thread.run_sync(os.fsync, f.fileno())
    f.close()
    os.unlink(name)
    return Response(f'{{"size": {size}}}', status=201, content_type="application/json")


@app.route("/health", methods=["GET"])
async def health() -> Response:
    return Response("ok")
