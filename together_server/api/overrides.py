"""Channel permission overrides (API.md §4.5)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..errors import invalid
from ..permissions import ALL, CHANNEL_BITS
from ..storage import overrides as store
from ..validation import F
from .common import body, caller, json, no_content, path_id, route, state

bp = Blueprint("overrides", __name__)

PUT = [
    F("role_id", "uuid", nullable=True),
    F("user_id", "uuid", nullable=True),
    F("allow", "int", required=True, min=0),
    F("deny", "int", required=True, min=0),
]


def _channel_bits_only(value: int) -> str | None:
    if value & ~CHANNEL_BITS:
        return f"may hold only channel permission bits ({CHANNEL_BITS})"
    return None


async def _put_body() -> tuple[str | None, str | None, int, int]:
    """The strict PUT body; every 400 comes here, before any lookup (§1.6)."""
    args = await body(PUT, strict=True)
    role_id, user_id = args["role_id"] or None, args["user_id"] or None
    allow, deny = args["allow"], args["deny"]
    errors: dict[str, str] = {}
    if (role_id is None) == (user_id is None):
        errors["role_id" if role_id is None else "user_id"] = "exactly one of role_id and user_id must be set"
    for name, value in (("allow", allow), ("deny", deny)):
        reason = _channel_bits_only(value) if value <= ALL else f"must be between 0 and {ALL}"
        if reason:
            errors[name] = reason
    if not errors and allow & deny:
        errors["deny"] = "must not share a bit with allow"
    if errors:
        raise invalid(errors)
    return role_id, user_id, allow, deny


@route(bp, "/channels/<channel_id>/overrides", ["GET"])
async def list_overrides(channel_id: str) -> Response:
    """GET /channels/:channel_id/overrides: everyone, then role, then user overrides; 200 [Override] (API.md §4.5)."""
    cid = path_id(channel_id, "unknown_channel")
    return json(await state().db.read(store.list_overrides, cid, caller().user_id))


@route(bp, "/channels/<channel_id>/overrides", ["PUT"])
async def put_override(channel_id: str) -> Response:
    """PUT /channels/:channel_id/overrides: create or replace the override of one role or user; 200 Override (API.md §4.5)."""
    role_id, user_id, allow, deny = await _put_body()
    cid = path_id(channel_id, "unknown_channel")
    st, uid = state(), caller().user_id
    limit = st.config.limits.overrides_per_channel
    return json(await st.db.write(
        lambda tx: store.put_override(tx, cid, uid, role_id, user_id, allow, deny, limit)))


@route(bp, "/channels/<channel_id>/overrides/<override_id>", ["DELETE"])
async def delete_override(channel_id: str, override_id: str) -> Response:
    """DELETE /channels/:channel_id/overrides/:override_id: remove an override; 204 (API.md §4.5)."""
    cid = path_id(channel_id, "unknown_channel")
    oid = path_id(override_id, "unknown_override")
    uid = caller().user_id
    await state().db.write(lambda tx: store.delete_override(tx, cid, oid, uid))
    return no_content()
