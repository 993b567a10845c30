"""Streaming multipart uploads to the blob store's temp folder (issue 10).

The request body of an upload route is read chunk by chunk (never whole into memory):
:class:`StreamingBody` holds at most about :data:`HIGH_WATER` bytes and makes the ASGI
receive loop wait while it is full, so hypercorn stops reading the socket (TCP back
pressure) instead of buffering 50 MB. Each file part is hashed while it is written to a
temp file (file I/O in worker threads), fsynced, then checked: sniffed type against the
allowlist, image header against the pixel limit, metadata stripped, thumbnail made.
Nothing is renamed into the blob store here: the write job that commits the rows does it.
Any refusal removes every temp file of the request before answering.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import trio
from quart import g, request
from quart_trio.asgi import TrioASGIHTTPConnection
from quart_trio.wrappers.request import TrioBody
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from ..config import AttachmentsConfig
from ..errors import ApiError, invalid
from ..files import images, media, sniff
from ..files.names import clean_filename
from ..storage.blobs import BlobStore, hash_file

HIGH_WATER = 1 << 20  # bytes buffered between the socket and the upload reader
WRITE_CHUNK = 1 << 20  # bytes handed to a worker thread per write
MAX_FIELD_BYTES = 64 * 1024  # a text part (content, reply_to, payload_json)
DRAIN_SECONDS = 30.0
# POST routes whose body may be a large multipart upload (after the /api prefix is removed)
_UPLOAD_PATHS = re.compile(r"^/(messages/[^/]+/attachments|channels/[^/]+/messages|dm-channels/[^/]+/messages)$")


class StreamingBody(TrioBody):
    """A request body read as a stream with bounded buffering (see module doc).

    Awaiting it whole (``await request.body``, as the pipeline does for a refused
    request) turns the stream back into an ordinary body with ``limit`` bytes at most.
    """

    def __init__(self, expected: int | None, limit: int | None) -> None:
        super().__init__(expected, None)
        self.limit = limit
        self.streaming = True
        self._room = trio.Event()

    async def __anext__(self) -> bytes:
        data = await super().__anext__()
        self._room.set()
        return data

    def __await__(self) -> Any:
        self.stop_streaming()
        if self.limit is not None and len(self._data) > self.limit:
            self._must_raise = RequestEntityTooLarge()
        self._max_content_length = self.limit
        return super().__await__()

    def stop_streaming(self) -> None:
        self.streaming = False
        self._room.set()

    async def wait_room(self) -> None:
        """Wait (in the ASGI receive loop) while the buffer is full and being streamed."""
        while self.streaming and len(self._data) > HIGH_WATER and not self._complete.is_set():
            self._room = trio.Event()
            await self._room.wait()


class UploadHTTPConnection(TrioASGIHTTPConnection):
    """The app's ASGI HTTP handler: upload routes get a :class:`StreamingBody`."""

    def _create_request_from_scope(self, send: Any) -> Any:
        req = super()._create_request_from_scope(send)
        if req.method == "POST" and _UPLOAD_PATHS.match(req.path) \
                and req.headers.get("Content-Type", "").lower().startswith("multipart/"):
            req.body = StreamingBody(req.content_length, self.app.config["MAX_CONTENT_LENGTH"])
        return req

    async def handle_messages(self, nursery: trio.Nursery, request: Any, receive: Any) -> None:  # type: ignore[override]
        body = request.body
        while True:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
                if isinstance(body, StreamingBody):
                    await body.wait_room()
            elif message["type"] == "http.disconnect":
                break
        nursery.cancel_scope.cancel()


@attrs.define
class Upload:
    """One accepted file, still in the temp folder: ``temp`` (the bytes to store, fsynced),
    ``sha256``/``size`` of those bytes, the sniffed ``mime``, ``width``/``height`` (pixels,
    images and MP4/QuickTime video), ``thumb``/``thumb_sha256``/``thumb_type`` (or None),
    the cleaned ``filename`` and the ``part`` label used in error messages."""

    part: str
    filename: str
    temp: Path
    sha256: str = ""
    size: int = 0
    mime: str = ""
    width: int | None = None
    height: int | None = None
    thumb: Path | None = None
    thumb_sha256: str | None = None
    thumb_type: str | None = None
    extra: list[Path] = attrs.field(factory=list)  # other temp files to remove

    def temps(self) -> list[Path | None]:
        return [self.temp, self.thumb, *self.extra]


@attrs.define
class Form:
    """A parsed multipart body: text ``fields`` by name and the accepted ``files``."""

    fields: dict[str, str] = attrs.field(factory=dict)
    files: list[Upload] = attrs.field(factory=list)


class FileService:
    """The upload side of attachments for one daemon: the blob store, the settings, and a
    limiter for image work (decoding is CPU-heavy: at most 2 at once)."""

    def __init__(self, store: BlobStore, cfg: AttachmentsConfig) -> None:
        self.store = store
        self.cfg = cfg
        self.allowed = frozenset(t.lower() for t in cfg.allowed_types)
        self.image_limiter = trio.CapacityLimiter(2)

    def check_disk(self, incoming: int) -> None:
        """507 ``insufficient_storage`` when storing ``incoming`` more bytes would leave less
        than ``min_free_disk_bytes`` free. Messages still post: only uploads check this."""
        free = self.store.free_bytes()
        if free - incoming < self.cfg.min_free_disk_bytes:
            raise ApiError("insufficient_storage", "The server is almost out of disk space: files cannot be"
                           " uploaded right now (messages still work)")

    async def read_form(self, max_files: int) -> Form:
        """Stream the multipart body of the current request into temp files.

        ``max_files``: how many file parts may still be added. Raises 400
        ``validation_failed`` (``errors`` names the part: wrong type, empty, too many, not
        multipart), 413 ``payload_too_large`` (a file over ``max_file_bytes``), 400 for an
        image over the pixel limit or that cannot be decoded, 507 when the disk is nearly
        full. On any error every temp file is removed and the rest of the body drained.
        """
        form = Form()
        body = request.body
        g.body_read = True
        if not isinstance(body, StreamingBody):
            raise invalid({"Content-Type": "must be multipart/form-data"})
        boundary = request.mimetype_params.get("boundary") if request.mimetype == "multipart/form-data" else None
        if not boundary:
            body.stop_streaming()
            raise invalid({"Content-Type": "must be multipart/form-data with a boundary"})
        cap = max(1, max_files) * self.cfg.max_file_bytes + 1024 * 1024
        if request.content_length is not None and request.content_length > cap:
            body.stop_streaming()
            raise ApiError("payload_too_large", f"At most {max_files} files of {self.cfg.max_file_bytes} bytes each",
                           headers={"Connection": "close"})
        reader = _PartReader(self, form, max_files)
        try:
            decoder = MultipartDecoder(boundary.encode("latin-1"))
            async for chunk in body:
                decoder.receive_data(chunk)
                await reader.feed(decoder)
            decoder.receive_data(None)
            await reader.feed(decoder)
            if not reader.ended:
                raise invalid({"body": "the multipart body ends before its closing boundary"})
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    await reader.wait_write()
                if reader.fh is not None:
                    reader.fh.close()
                await trio.to_thread.run_sync(self.store.discard, *reader.temps())
                if isinstance(exc, ApiError | ValueError | RequestEntityTooLarge):
                    await drain(body, cap)
            if isinstance(exc, ValueError) and not isinstance(exc, ApiError):
                raise invalid({"body": f"not a valid multipart body ({exc})"}) from None
            raise
        finally:
            body.stop_streaming()
        return form

    def process(self, up: Upload) -> None:
        """In a worker thread: check and prepare one complete temp file (see module doc)."""
        mime = sniff.sniff(up.temp)
        if mime in sniff.MARKUP_TYPES and "text/plain" in self.allowed:
            mime = "text/plain"  # markup is kept and served as plain text, never rendered
        if mime is None or mime not in self.allowed:
            shown = mime or "unknown binary data"
            raise invalid({up.part: f"files of this type ({shown}) may not be uploaded"})
        up.mime = mime
        fmt = images.PILLOW_FORMATS.get(mime)
        if fmt is not None:
            try:
                info = images.probe_image(up.temp, self.cfg.max_image_pixels, expect=fmt)
                prepared = images.prepare_image(up.temp, info, self.store.tmp)
            except images.ImageRefused as exc:
                raise invalid({up.part: str(exc)}) from None
            if prepared.path != up.temp:
                up.extra.append(up.temp)
                up.temp = prepared.path
                up.sha256, up.size = hash_file(up.temp)
            up.width, up.height = prepared.width, prepared.height
            if prepared.thumb_path is not None:
                up.thumb = prepared.thumb_path
                up.thumb_sha256, _ = hash_file(prepared.thumb_path)
                up.thumb_type = images.thumbnail_type()
        elif mime in ("video/mp4", "video/quicktime"):
            size = media.video_size(up.temp)
            if size is not None:
                up.width, up.height = size


class _PartReader:
    """Consumes decoder events for :meth:`FileService.read_form`."""

    def __init__(self, svc: FileService, form: Form, max_files: int) -> None:
        self.svc, self.form, self.max_files = svc, form, max_files
        self.ended = False
        self.field: tuple[str, bytearray] | None = None
        self.file: Upload | None = None
        self.fh: BinaryIO | None = None
        self.hasher: Any = None
        self.buf = bytearray()
        self.skipping = False
        self.pending: list[Path] = []
        self.in_flight: tuple[trio.Event, list[Any]] | None = None

    def _start_write(self, job: Callable[[], None]) -> None:
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()
        box: list[Any] = []

        def deliver(result: Any) -> None:  # in the worker thread
            box.append(result)
            token.run_sync_soon(done.set)

        trio.lowlevel.start_thread_soon(job, deliver)
        self.in_flight = (done, box)

    async def wait_write(self) -> None:
        """Wait for the write in flight (shielded: a thread never outlives its file) and
        raise what it raised."""
        if self.in_flight is None:
            return
        done, box = self.in_flight
        self.in_flight = None
        with trio.CancelScope(shield=True):
            await done.wait()
        box[0].unwrap()

    def temps(self) -> list[Path | None]:
        out: list[Path | None] = list(self.pending)
        for up in self.form.files:
            out.extend(up.temps())
        if self.file is not None:
            out.extend(self.file.temps())
        return out

    async def feed(self, decoder: MultipartDecoder) -> None:
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                return
            if isinstance(event, File):
                if not event.name.startswith("file"):
                    raise invalid({event.name: "file parts must be named files"})
                if len(self.form.files) >= self.max_files:
                    raise invalid({"files": f"at most {self.svc.cfg.max_files_per_message} files per message"})
                index = len(self.form.files)
                part = f"files[{index}]"
                self.fh, temp = await trio.to_thread.run_sync(self.svc.store.open_temp)
                self.file = Upload(part=part, filename=clean_filename(event.filename), temp=temp)
                self.hasher = hashlib.sha256()
            elif isinstance(event, Field):
                self.field = (event.name, bytearray())
            elif isinstance(event, Data):
                if self.file is not None:
                    await self._file_data(event.data, event.more_data)
                elif self.field is not None:
                    self.field[1].extend(event.data)
                    if len(self.field[1]) > MAX_FIELD_BYTES:
                        raise ApiError("payload_too_large", f"the text part {self.field[0]} is too large",
                                       errors={self.field[0]: f"must be at most {MAX_FIELD_BYTES} bytes"})
                    if not event.more_data:
                        name, raw = self.field
                        self.field = None
                        try:
                            self.form.fields[name] = raw.decode("utf-8")
                        except UnicodeDecodeError:
                            raise invalid({name: "must be UTF-8 text"}) from None
            elif isinstance(event, Epilogue):
                self.ended = True
                return

    async def _file_data(self, data: bytes, more: bool) -> None:
        up = self.file
        assert up is not None and self.fh is not None
        self.buf.extend(data)
        up.size += len(data)
        if up.size > self.svc.cfg.max_file_bytes:
            raise ApiError("payload_too_large", f"{up.part} is larger than {self.svc.cfg.max_file_bytes} bytes",
                           errors={up.part: f"must be at most {self.svc.cfg.max_file_bytes} bytes"})
        if len(self.buf) >= WRITE_CHUNK or not more:
            # One write in flight while the next chunk is received: hashing and disk
            # writes overlap with reading the socket (the buffer stays bounded).
            await self.wait_write()
            chunk, self.buf = bytes(self.buf), bytearray()
            self._start_write(functools.partial(_write, self.fh, self.hasher, chunk, not more))
        if not more:
            await self.wait_write()
            self.fh = None
            if up.size == 0:
                raise invalid({up.part: "must not be empty"})
            up.sha256 = self.hasher.hexdigest()
            await trio.to_thread.run_sync(self.svc.check_disk, up.size)
            async with self.svc.image_limiter:
                await trio.to_thread.run_sync(self.svc.process, up)
            self.form.files.append(up)
            self.file = None


def _write(fh: BinaryIO, hasher: Any, chunk: bytes, last: bool) -> None:
    hasher.update(chunk)
    fh.write(chunk)
    if last:
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()


async def drain(body: StreamingBody, cap: int) -> None:
    """Read and drop the rest of a refused body (bounded in bytes and time) so the client,
    still sending, gets to read our answer."""
    seen = 0
    with trio.move_on_after(DRAIN_SECONDS):
        try:
            async for chunk in body:
                seen += len(chunk)
                if seen > cap:
                    break
        except Exception:  # noqa: BLE001 - a broken body has nothing left to drain
            return
