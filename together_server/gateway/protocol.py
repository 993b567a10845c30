"""Gateway wire protocol, without I/O (API.md §6.2, §6.3, §6.5, §6.8; STYLE.md §7).

Frames in: :func:`parse_client_frame` turns one text frame into a frozen op record, or
``None`` when the frame must be dropped silently (malformed JSON, unknown op, invalid
``d``). Frames out: :func:`dispatch_frame` splices the envelope and the per-session ``s``
around a ``d`` that was JSON-encoded once per event (DESIGN.md "Fan-out").
:class:`RollingWindow` is the counter behind the frame-rate and presence limits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from ..errors import ApiError
from ..ids import normalize_uuid
from ..validation import F, parse_fields

DISPATCH = "DISPATCH"
HEARTBEAT = "HEARTBEAT"
HEARTBEAT_ACK = "HEARTBEAT_ACK"
PRESENCE_UPDATE = "PRESENCE_UPDATE"
TYPING_START = "TYPING_START"
VOICE_SIGNAL = "VOICE_SIGNAL"

#: The exact heartbeat answer (§6.2).
HEARTBEAT_ACK_FRAME = '{"op":"HEARTBEAT_ACK"}'

# Close codes (§6.8).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_REVOKED = 4001
CLOSE_RESUMED_ELSEWHERE = 4002
CLOSE_SLOW_READER = 4008
CLOSE_IDLE = 4009

STATUSES = ("online", "away", "dnd", "offline")
SIGNAL_TYPES = ("offer", "answer", "candidate")


@attrs.frozen(slots=True)
class Heartbeat:
    """``HEARTBEAT``: answered with ``HEARTBEAT_ACK``."""


@attrs.frozen(slots=True)
class PresenceOp:
    """``PRESENCE_UPDATE`` op: the chosen status; ``""``/missing texts are ``None``."""

    status: str
    custom_status: str | None
    activity: str | None


@attrs.frozen(slots=True)
class TypingOp:
    """``TYPING_START`` op: a normalized channel uuid."""

    channel_id: str


@attrs.frozen(slots=True)
class VoiceSignalOp:
    """``VOICE_SIGNAL`` op (§6.3); ``to_user_id`` normalized."""

    to_user_id: str
    type: str
    sdp: str | None
    candidate: str | None
    sdp_mid: str | None
    sdp_mline_index: int | None
    stream_type: str | None

    def payload(self, from_user_id: str) -> dict[str, Any]:
        """The dispatched ``d`` (§6.7), ``from_user_id`` set by the server."""
        return {
            "from_user_id": from_user_id, "type": self.type, "sdp": self.sdp,
            "candidate": self.candidate, "sdp_mid": self.sdp_mid,
            "sdp_mline_index": self.sdp_mline_index, "stream_type": self.stream_type,
        }


ClientOp = Heartbeat | PresenceOp | TypingOp | VoiceSignalOp

_PRESENCE = [
    F("status", "enum", required=True, choices=STATUSES),
    F("custom_status", nullable=True, max=128),
    F("activity", nullable=True, max=128),
]
_SIGNAL = [
    F("to_user_id", "uuid", required=True),
    F("type", "enum", required=True, choices=SIGNAL_TYPES),
    F("sdp", nullable=True),
    F("candidate", nullable=True),
    F("sdp_mid", nullable=True),
    F("sdp_mline_index", "int", nullable=True, min=0, max=65535),
    F("stream_type", nullable=True, max=64),
]
_HEARTBEAT = Heartbeat()


def parse_client_frame(text: str) -> ClientOp | None:
    """One client text frame -> op record, or ``None`` to drop it silently (§6.3)."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(frame, dict):
        return None
    op = frame.get("op")
    if op == HEARTBEAT:
        return _HEARTBEAT
    d = frame.get("d")
    if not isinstance(d, dict):
        return None
    try:
        if op == PRESENCE_UPDATE:
            v = parse_fields(d, _PRESENCE)
            return PresenceOp(v["status"], v["custom_status"] or None, v["activity"] or None)
        if op == TYPING_START:
            cid = d.get("channel_id")
            norm = normalize_uuid(cid) if isinstance(cid, str) else None
            return TypingOp(norm) if norm else None
        if op == VOICE_SIGNAL:
            v = parse_fields(d, _SIGNAL)
            idx = v["sdp_mline_index"]
            return VoiceSignalOp(
                v["to_user_id"], v["type"], v["sdp"] or None, v["candidate"] or None,
                v["sdp_mid"] or None, idx if isinstance(idx, int) else None, v["stream_type"] or None,
            )
    except ApiError:
        return None
    return None


def encode(d: Any) -> str:
    """Encode a dispatch payload once (shared by every receiver and replay buffer)."""
    return orjson.dumps(d).decode()


def dispatch_frame(event_type: str, seq: int, d: str) -> str:
    """``{"op":"DISPATCH","t":...,"s":...,"d":...}`` around an already-encoded ``d``.

    Event names are fixed ASCII identifiers, so they need no escaping.
    """
    return f'{{"op":"DISPATCH","t":"{event_type}","s":{seq},"d":{d}}}'


def frame_too_big(text: str, max_bytes: int) -> bool:
    """Whether a text frame exceeds ``max_bytes`` of UTF-8 (§6.8).

    hypercorn counts a text frame's limit in characters; a frame can only be over in bytes
    when it holds non-ASCII text, so only long frames pay for the encode.
    """
    return len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes


@attrs.frozen(slots=True)
class ResumeRequest:
    """``session_id`` and ``seq`` from the upgrade's query string (§6.5)."""

    session_id: str
    seq: int


def parse_resume(args: Mapping[str, str]) -> ResumeRequest | None:
    """The resume parameters, or ``None`` when absent or malformed (then: fresh READY)."""
    sid, seq = args.get("session_id"), args.get("seq")
    if not sid or seq is None or not seq.isascii() or not seq.isdigit() or len(seq) > 18:
        return None
    return ResumeRequest(sid, int(seq))


class RollingWindow:
    """At most ``limit`` hits in any ``period`` seconds (rolling), times given by the caller."""

    __slots__ = ("limit", "period", "_hits")

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._hits: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Record a hit at ``now`` and return True, or return False (nothing recorded)."""
        hits = self._hits
        while hits and hits[0] <= now - self.period:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True
