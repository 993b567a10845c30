"""Request-body and query-string validation (API.md §1.2).

A handler declares its fields once as :class:`F` specs and calls :func:`parse_body` /
:func:`query_*`. Types are exact (no coercion: ``1.0``, ``true`` and ``"5"`` are not
integers), lengths count code points, every string is checked for control characters, and
every bad field is reported together in one ``400 validation_failed`` whose ``errors``
names them. Absent fields come back as :data:`UNSET`, so PATCH handlers can tell "absent"
from ``null``.
"""

from __future__ import annotations

import datetime as _dt
import json as stdlib_json
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .errors import ApiError, invalid
from .ids import normalize_uuid
from .text import has_bad_control, has_visible

MAX_INT = 2**31 - 1


class _Unset:
    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()

_URL_RE = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


class F:
    """One body field: ``kind`` is str | int | bool | uuid | url | color | enum | ts | any.

    ``ts``: an RFC 3339 date-time with a time zone (``Z`` or ``±hh:mm``), returned as the
    API form of §1.3 (UTC, six fraction digits).

    ``nullable``: ``null`` is accepted; for nullable strings ``""`` means null (§1.2).
    ``visible``: at least one visible character. ``check``: extra callable returning an
    error reason or None.
    """

    __slots__ = ("name", "kind", "required", "nullable", "min", "max", "visible", "choices", "check")

    def __init__(
        self,
        name: str,
        kind: str = "str",
        *,
        required: bool = False,
        nullable: bool = False,
        min: int | None = None,  # noqa: A002 - mirrors the contract's wording
        max: int | None = None,  # noqa: A002
        visible: bool = False,
        choices: tuple[str, ...] = (),
        check: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.name, self.kind, self.required, self.nullable = name, kind, required, nullable
        self.min, self.max, self.visible, self.choices, self.check = min, max, visible, choices, check


def parse_json(raw: bytes) -> dict[str, Any]:
    """Bytes -> JSON object; a 0-byte body is ``{}``. Raises 400 invalid_json."""
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError("invalid_json", "Request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError("invalid_json", "Request body must be a JSON object")
    if _has_big_int(value, raw):
        raise ApiError("invalid_json", "Request body holds an integer too large for 64 bits")
    return value


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _reject_big(literal: str) -> int:
    value = int(literal)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("integer too large")
    return value


def _has_big_int(value: dict[str, Any], raw: bytes) -> bool:
    """True when the body holds an integer literal outside the signed 64-bit range.

    orjson silently turns such literals into floats (and keeps 2^63..2^64-1 as ints),
    so: any int out of range is one; any float may be one, which only the stdlib
    parser (run in that rare case) can tell, because it sees the literal.
    """
    stack: list[Any] = [value]
    saw_float = False
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            if not INT64_MIN <= item <= INT64_MAX:
                return True
        elif isinstance(item, float):
            saw_float = True
    if not saw_float:
        return False
    try:
        stdlib_json.loads(raw, parse_int=_reject_big)
    except ValueError:
        return True
    except RecursionError:  # orjson already bounded the depth; be safe anyway
        return True
    return False


def _check_string(value: str, spec: F) -> str | None:
    # length first: it is O(1), so a 10 MB string is refused without scanning it
    n = len(value)
    lo = spec.min if spec.min is not None else 0
    if spec.max is not None and not (lo <= n <= spec.max):
        return f"length must be between {lo} and {spec.max}"
    if n < lo:
        return f"length must be at least {lo}"
    if has_bad_control(value):
        return "must not contain control characters"
    if spec.visible and not has_visible(value):
        return "must contain at least one visible character"
    return None


def _check(value: Any, spec: F) -> tuple[Any, str | None]:
    kind = spec.kind
    if kind in ("str", "url", "color", "enum", "uuid"):
        if not isinstance(value, str):
            return None, "must be a string"
        if kind == "uuid":
            norm = normalize_uuid(value)
            return (norm, None) if norm else (None, "must be a UUID")
        reason = _check_string(value, spec)
        if reason:
            return None, reason
        if kind == "url" and not _URL_RE.match(value):
            return None, "must be an http(s) URL"
        if kind == "color" and not _COLOR_RE.match(value):
            return None, "must be a color like #RRGGBB"
        if kind == "enum" and value not in spec.choices:
            return None, "must be one of " + ", ".join(spec.choices)
        return value, None
    if kind == "ts":
        if not isinstance(value, str):
            return None, "must be a string"
        norm = parse_rfc3339(value)
        return (norm, None) if norm else (None, "must be an RFC 3339 date-time with a time zone")
    if kind == "int":
        if type(value) is not int:
            return None, "must be an integer"
        lo = spec.min if spec.min is not None else -(2**31)
        hi = spec.max if spec.max is not None else MAX_INT
        if not lo <= value <= hi:
            return None, f"must be between {lo} and {hi}"
        return value, None
    if kind == "bool":
        if type(value) is not bool:
            return None, "must be a boolean"
        return value, None
    return value, None


_RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(value: str) -> str | None:
    """``2026-03-27T21:00:00+01:00`` -> ``2026-03-27T20:00:00.000000Z``; None when malformed
    (no time zone, impossible date, year outside 1970-9999)."""
    if len(value) > 40 or not _RFC3339_RE.match(value):
        return None
    text = value.upper().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, _, rest = text.partition(".")
    if rest:  # at most microseconds for datetime
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        when = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    try:
        when = when.astimezone(_dt.UTC)
    except OverflowError:  # 9999-12-31T23:59:59-12:00 is past year 9999 in UTC
        return None
    if not 1970 <= when.year <= 9999:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_fields(
    body: Mapping[str, Any], specs: list[F], *, strict: bool = False, patch: bool = False
) -> dict[str, Any]:
    """Validate ``body`` against ``specs``; returns name -> value (UNSET when absent).

    PATCH (``patch=True``): ``null`` means "leave as is" (UNSET) and ``""`` on a nullable
    string means clear (None). POST: ``""`` on a nullable string means None. Raises
    ``400 validation_failed`` naming every bad field.
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in body:
            if spec.required:
                errors[spec.name] = "is required"
            out[spec.name] = UNSET
            continue
        value = body[spec.name]
        if value is None:
            if patch:
                out[spec.name] = UNSET
            elif spec.nullable and not spec.required:
                out[spec.name] = None
            else:
                errors[spec.name] = "is required" if spec.required else "must not be null"
            continue
        if value == "" and spec.nullable and spec.kind != "int" and spec.kind != "bool":
            out[spec.name] = None
            continue
        result, reason = _check(value, spec)
        if reason is None and spec.check is not None:
            reason = spec.check(result)
        if reason:
            errors[spec.name] = reason
        else:
            out[spec.name] = result
    if strict:
        known = {s.name for s in specs}
        for key in body:
            if key not in known:
                errors[key] = "unknown field"
    if errors:
        raise invalid(errors)
    return out


def query_int(args: Mapping[str, str], name: str, default: int) -> int:
    """An integer query parameter (``-?[0-9]+`` within ±2^31); 400 otherwise."""
    raw = args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]+", raw):
        raise invalid({name: "must be an integer"})
    value = int(raw)
    if not -(2**31) <= value <= MAX_INT:
        raise invalid({name: "is out of range"})
    return value


def query_uuid(args: Mapping[str, str], name: str) -> str | None:
    """The query parameter ``name`` as a lowercase UUID string, or None when absent.

    Raises ApiError 400 ``validation_failed`` ({name: "must be a UUID"}) when malformed (API.md §1.3, §1.7).
    """
    raw = args.get(name)
    if raw is None:
        return None
    norm = normalize_uuid(raw)
    if norm is None:
        raise invalid({name: "must be a UUID"})
    return norm
