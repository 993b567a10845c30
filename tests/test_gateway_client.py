"""A small gateway test client (used by every tests/test_gateway_*.py) and the pure
protocol tests (API.md §6.2, §6.3, §6.5, §6.8)."""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from together_server.gateway import protocol as proto

WAIT = 10.0  # seconds: a ceiling against hangs, never an expectation


class Gw:
    """One gateway connection with a remembered ``s`` and a queue of dispatches."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.last_s = 0
        self.ready: dict[str, Any] = {}
        self.session_id = ""
        self.backlog: list[dict[str, Any]] = []

    async def frame(self) -> dict[str, Any]:
        if self.backlog:
            return self.backlog.pop(0)
        with trio.fail_after(WAIT):
            raw = await self.ws.get_message()
        msg: dict[str, Any] = orjson.loads(raw)
        if "s" in msg:
            assert msg["s"] == self.last_s + 1 or self.last_s == 0, (msg["s"], self.last_s)
            self.last_s = msg["s"]
        return msg

    async def event(self, *types: str) -> dict[str, Any]:
        """The next dispatch (of one of ``types``, if given; HEARTBEAT_ACKs are skipped)."""
        while True:
            msg = await self.frame()
            if msg["op"] != "DISPATCH":
                continue
            if not types or msg["t"] in types:
                return msg
            raise AssertionError(f"expected {types}, got {msg['t']}: {msg['d']}")

    async def until(self, t: str, pred: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Skip dispatches until one of type ``t`` (matching ``pred``); returns it and those skipped."""
        skipped = []
        while True:
            msg = await self.frame()
            if msg["op"] == "DISPATCH" and msg["t"] == t and (pred is None or pred(msg["d"])):
                return msg, skipped
            skipped.append(msg)

    async def send(self, op: str, d: Any = None, **extra: Any) -> None:
        body: dict[str, Any] = {"op": op, **extra}
        if d is not None:
            body["d"] = d
        await self.ws.send_message(orjson.dumps(body).decode())

    async def sync(self) -> list[dict[str, Any]]:
        """Round trip: HEARTBEAT -> HEARTBEAT_ACK, so every earlier op was handled.

        Returns the dispatches that arrived before the ACK; they also stay queued for
        the next reads."""
        await self.send("HEARTBEAT")
        seen: list[dict[str, Any]] = []
        while True:
            msg = await self.frame()
            if msg["op"] == "HEARTBEAT_ACK":
                self.backlog[:0] = seen
                return list(seen)
            seen.append(msg)

    async def closed(self) -> int | None:
        """Read until the server closes; return the close code."""
        with trio.fail_after(WAIT):
            try:
                while True:
                    await self.ws.get_message()
            except ConnectionClosed as exc:
                return exc.reason.code if exc.reason else None


def ws_url(base: str, **params: Any) -> str:
    return base.replace("http://", "ws://") + "/ws?" + urlencode({k: v for k, v in params.items() if v is not None})


@asynccontextmanager
async def connect(base: str, token: str | None = None, *, ready: bool = True,
                  headers: list[tuple[str, str]] | None = None, **params: Any) -> AsyncIterator[Gw]:
    """Open ``/ws?token=...``; with ``ready``, read READY (or the resume preamble) first."""
    ws_conn = None
    try:
        async with open_websocket_url(ws_url(base, token=token, **params), extra_headers=headers or [],
                                      message_queue_size=math.inf) as ws:  # type: ignore[arg-type]
            ws_conn = ws
            gw = Gw(ws)
            if ready:
                msg = await gw.frame()
                assert msg["op"] == "DISPATCH", msg
                if msg["t"] == "READY":
                    assert msg["s"] == 1
                    gw.ready = msg["d"]
                    gw.session_id = msg["d"]["session_id"]
                else:
                    gw.ready = msg
            yield gw
    finally:
        # trio-websocket 0.12 never closes its TCP stream after a close the *server*
        # started (it waits for the server's FIN, sees it, and forgets the socket).
        if ws_conn is not None:
            with trio.CancelScope(shield=True):
                await ws_conn._stream.aclose()  # noqa: SLF001


class RawWs:
    """A bare wsproto client on a plain socket, for what trio-websocket cannot do: never
    read (with a tiny receive buffer), or vanish with a TCP reset."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    def open(cls, base: str, token: str, rcvbuf: int | None = None, **params: Any) -> RawWs:
        """Blocking connect + handshake (call through ``trio.to_thread.run_sync``)."""
        host, port = base.rsplit("/", 1)[-1].rsplit(":", 1)
        sock = socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(WAIT)
        sock.connect((host, int(port)))
        raw = cls(sock)
        target = "/ws?" + urlencode({"token": token, **params})
        sock.sendall(raw.ws.send(Request(host=f"{host}:{port}", target=target)))
        while True:
            raw.ws.receive_data(sock.recv(4096))
            for event in raw.ws.events():
                if isinstance(event, AcceptConnection):
                    return raw
                raise AssertionError(f"handshake refused: {event!r}")

    def read_until_close(self) -> tuple[list[str], int | None]:
        """Blocking: read everything up to the server's close frame."""
        texts: list[str] = []
        parts: list[str] = []
        while True:
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        texts.append("".join(parts))
                        parts = []
                elif isinstance(event, CloseConnection):
                    return texts, event.code
            if not data:
                return texts, None

    def reset(self) -> None:
        """Vanish with a TCP RST (SO_LINGER 0), no close frame."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


# -- pure protocol tests -------------------------------------------------------------------

def test_parse_heartbeat_and_garbage() -> None:
    assert proto.parse_client_frame('{"op":"HEARTBEAT"}') == proto.Heartbeat()
    assert proto.parse_client_frame('{"op":"HEARTBEAT","d":123}') == proto.Heartbeat()
    for bad in ("", "{", "[]", "null", '{"op":"NOPE","d":{}}', '{"op":"TYPING_START","d":null}',
                '{"op":"TYPING_START","d":{"channel_id":"not-a-uuid"}}', '{"op":1}'):
        assert proto.parse_client_frame(bad) is None


def test_parse_presence() -> None:
    op = proto.parse_client_frame('{"op":"PRESENCE_UPDATE","d":{"status":"dnd","custom_status":"","activity":"x"}}')
    assert op == proto.PresenceOp("dnd", None, "x")
    assert proto.parse_client_frame('{"op":"PRESENCE_UPDATE","d":{"status":"busy"}}') is None
    too_long = orjson.dumps({"op": "PRESENCE_UPDATE", "d": {"status": "online", "custom_status": "x" * 129}}).decode()
    assert proto.parse_client_frame(too_long) is None
    ok = orjson.dumps({"op": "PRESENCE_UPDATE", "d": {"status": "online", "custom_status": "é" * 128}}).decode()
    assert proto.parse_client_frame(ok) == proto.PresenceOp("online", "é" * 128, None)


def test_parse_voice_signal() -> None:
    uid = "0190a000-0000-7000-8000-000000000001"
    op = proto.parse_client_frame(orjson.dumps({"op": "VOICE_SIGNAL", "d": {
        "to_user_id": uid.upper(), "type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\n",
        "sdp_mline_index": 0}}).decode())
    assert isinstance(op, proto.VoiceSignalOp)
    assert op.to_user_id == uid and op.sdp_mline_index == 0 and op.candidate is None
    assert op.payload("me")["from_user_id"] == "me"
    for d in ({"to_user_id": uid, "type": "hello"}, {"to_user_id": "x", "type": "offer"},
              {"to_user_id": uid, "type": "offer", "sdp_mline_index": 70000},
              {"to_user_id": uid, "type": "offer", "sdp": 5}):
        assert proto.parse_client_frame(orjson.dumps({"op": "VOICE_SIGNAL", "d": d}).decode()) is None


def test_dispatch_frame_splices_envelope() -> None:
    d = proto.encode({"id": "x", "content": 'he said "hi" 👋'})
    frame = proto.dispatch_frame("MESSAGE_CREATE", 42, d)
    assert orjson.loads(frame) == {"op": "DISPATCH", "t": "MESSAGE_CREATE", "s": 42,
                                   "d": {"id": "x", "content": 'he said "hi" 👋'}}
    assert orjson.loads(proto.HEARTBEAT_ACK_FRAME) == {"op": "HEARTBEAT_ACK"}


def test_frame_size_counts_utf8_bytes() -> None:
    assert not proto.frame_too_big("a" * 100, 100)
    assert proto.frame_too_big("é" * 60, 100)
    assert not proto.frame_too_big("é" * 50, 100)


def test_resume_params() -> None:
    assert proto.parse_resume({"session_id": "abc", "seq": "7"}) == proto.ResumeRequest("abc", 7)
    for bad in ({"session_id": "abc"}, {"seq": "1"}, {"session_id": "abc", "seq": "-1"},
                {"session_id": "abc", "seq": "1e3"}, {"session_id": "", "seq": "1"}):
        assert proto.parse_resume(bad) is None


def test_rolling_window() -> None:
    w = proto.RollingWindow(2, 1.0)
    assert w.allow(0.0) and w.allow(0.5) and not w.allow(0.9)
    assert w.allow(1.01) and not w.allow(1.2) and w.allow(1.6)
