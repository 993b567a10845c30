"""Attachment routes (issue 10): upload to a message, list a message's files, and the
one-step multipart post shared by channel and DM message routes.

``POST /messages/:message_id/attachments`` (multipart, parts named ``files``) → 201
[Attachment] and MESSAGE_UPDATE (DM_MESSAGE_UPDATE for a DM). All or nothing: a refusal
at any point leaves no row and no file (api/uploads.py removes the temp files; blobs are
renamed into place only inside the write job that commits the rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from quart import Blueprint, Response, request

from ..errors import ApiError, invalid
from ..storage import attachments as store
from ..storage.db import Tx
from .common import caller, json, path_id, route, state
from .uploads import FileService, Form, Upload, drain

bp = Blueprint("attachments", __name__)


def service() -> FileService:
    """The daemon's :class:`FileService` (``AppState.files``)."""
    return state().files  # type: ignore[no-any-return]


def is_multipart() -> bool:
    """True when the request body is multipart/form-data (a one-step post with files)."""
    return request.mimetype == "multipart/form-data"


async def _refuse(exc: ApiError) -> ApiError:
    """Drain (bounded) the body of an upload refused before reading it, so the client,
    still sending, reads the answer on a connection that stays usable."""
    svc = service()
    await drain(request.body, svc.cfg.max_files_per_message * svc.cfg.max_file_bytes + (1 << 20))  # type: ignore[arg-type]
    return exc


async def _precheck(check: Callable[[], Any]) -> Any:
    svc = service()
    try:
        if not svc.cfg.enabled:
            raise ApiError("missing_permission", "File uploads are turned off on this server")
        found = await check()
        await trio.to_thread.run_sync(svc.check_disk, request.content_length or 0)
    except ApiError as exc:
        raise await _refuse(exc) from None
    return found


async def commit_uploads(form: Form, job: Callable[[Tx], Any]) -> Any:
    """Run the write ``job`` that renames the blobs of ``form`` into place and commits the
    rows; afterwards remove leftover temp files, and if the job failed, queue any blob it
    had already moved for the purge (it stays only if another row references it)."""
    svc = service()
    st = state()
    try:
        return await st.db.write(job)
    except BaseException:
        with trio.CancelScope(shield=True):
            shas = [s for up in form.files for s in (up.sha256, up.thumb_sha256) if s]
            await st.db.write(lambda tx: store.queue_orphans(tx, shas))
        raise
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(svc.store.discard, *[t for up in form.files for t in up.temps()])


def _need_files(form: Form) -> list[Upload]:
    if not form.files:
        raise invalid({"files": "send at least one file part named files"})
    return form.files


@route(bp, "/messages/<message_id>/attachments", ["POST"])
async def upload(message_id: str) -> Response:
    """POST /messages/:message_id/attachments: multipart ``files`` parts; 201 [Attachment] (issue 10)."""
    mid = path_id(message_id, "unknown_message")
    uid = caller().user_id
    st = state()
    svc = service()
    cfg = svc.cfg
    target = await _precheck(lambda: st.db.read(store.upload_target, mid, uid))
    remaining = cfg.max_files_per_message - target.count
    if remaining <= 0:
        raise await _refuse(invalid({"files": f"a message holds at most {cfg.max_files_per_message} files"}))
    form = await svc.read_form(remaining)
    files = _need_files(form)

    def job(tx: Tx) -> list[dict[str, Any]]:
        t = store.upload_target(tx.conn, mid, uid)
        added = store.add(tx, t, uid, files, max_files=cfg.max_files_per_message,
                          quota=cfg.max_bytes_per_user, commit_blob=svc.store.commit)
        store.emit_update(tx, t)
        return added

    return json(await commit_uploads(form, job), 201)


@route(bp, "/messages/<message_id>/attachments", ["GET"])
async def list_attachments(message_id: str) -> Response:
    """GET /messages/:message_id/attachments: 200 [Attachment] for a viewer; 404 ``unknown_message`` otherwise (issue 10)."""
    mid = path_id(message_id, "unknown_message")
    return json(await state().db.read(store.list_for_message, mid, caller().user_id))


async def read_post_form(check: Callable[[], Any]) -> tuple[Form, str, str | None]:
    """A one-step multipart post: ``(form, content, reply_to)``.

    Text parts ``content`` and ``reply_to``, or a ``payload_json`` part holding
    ``{"content", "reply_to"}`` (Discord-style clients); file parts named ``files``.
    ``check()`` is the reader-side permission check run before the body is read.
    Content may be empty or invisible when at least one file comes with it.
    """
    svc = service()
    await _precheck(check)
    form = await svc.read_form(svc.cfg.max_files_per_message)
    try:
        fields: dict[str, Any] = dict(form.fields)
        if "payload_json" in fields:
            from ..validation import parse_json

            payload = parse_json(fields.pop("payload_json").encode())
            fields = {**payload, **fields}
        content = fields.get("content", "")
        reply_to = fields.get("reply_to") or None
        if not isinstance(content, str) or len(content) > 4000:
            raise invalid({"content": "must be a string of at most 4000 characters"})
        if reply_to is not None and not isinstance(reply_to, str):
            raise invalid({"reply_to": "must be a message id"})
        if not form.files:
            from ..text import has_visible

            if not content or not has_visible(content):
                raise invalid({"content": "must contain at least one visible character (or send files)"})
    except BaseException:
        await trio.to_thread.run_sync(svc.store.discard, *[t for up in form.files for t in up.temps()])
        raise
    return form, content, reply_to


async def discard_form(form: Form) -> None:
    """Remove the temp files of a form that will not be committed."""
    await trio.to_thread.run_sync(service().store.discard, *[t for up in form.files for t in up.temps()])


def attach_in_job(form: Form, user_id: str) -> Callable[[Tx, dict[str, Any]], list[dict[str, Any]]]:
    """The ``attach`` callback for ``messages.post`` / ``dms.post_dm``: adds the form's
    files to the message being created, in the same write job."""
    svc = service()
    cfg = svc.cfg

    def attach(tx: Tx, message: dict[str, Any]) -> list[dict[str, Any]]:
        if not form.files:
            return []
        t = store.upload_target(tx.conn, message["id"], user_id)
        return store.add(tx, t, user_id, form.files, max_files=cfg.max_files_per_message,
                         quota=cfg.max_bytes_per_user, commit_blob=svc.store.commit)

    return attach
