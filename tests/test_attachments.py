"""File attachments end to end (issue 10): a real daemon, real multipart over HTTP.

Upload / list / serve round trips with real files, the safe serving headers, signatures,
Range and ETag, permissions, limits, the PNG bomb, dedup and purge, deletion cascades,
the Together web client's two-step flow and the one-step multipart post, search filters.
"""

from __future__ import annotations

import io
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import Api, ThreadDaemon, Users, make_config
from fixtures_files import HTML, TEXT, jpeg_with_gps, mp4, pdf, png, png_bomb
from PIL import Image

from together_server.daemon import Running
from together_server.permissions import Permission

MAX_FILE = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def files_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    cfg = make_config(tmp_path_factory.mktemp("files"), attachments={
        "max_file_bytes": MAX_FILE, "min_free_disk_bytes": 0, "pending_seconds": 2})
    d = ThreadDaemon(cfg)
    running = d.start()
    yield running
    d.stop()


@pytest.fixture
async def people(files_daemon: Running) -> Any:
    u = Users(files_daemon.url)
    yield u
    await u.close()


def blobs_dir(running: Running) -> Path:
    return running.state.config.data_path / "blobs"


def blob_files(running: Running) -> list[Path]:
    return [p for p in blobs_dir(running).rglob("*") if p.is_file() and p.parent.name != "tmp"]


async def room(people: Users) -> tuple[Api, Api, dict[str, Any], dict[str, Any]]:
    owner = await people.new("fowner")
    member = await people.new("fmember")
    srv = await owner.server("Files")
    chan = await owner.channel(srv["id"])
    await owner.invite_and_join(srv["id"], member)
    return owner, member, srv, chan


async def upload(api: Api, mid: str, *files: tuple[str, bytes, str]) -> Any:
    return await api.post(f"/messages/{mid}/attachments",
                          files=[("files", (name, data, ctype)) for name, data, ctype in files])


async def fetch(api: Api, url: str, **headers: str) -> Any:
    # browsers send no Authorization header with <img src>: neither do we
    return await api.client.get(url, headers=headers)


async def test_round_trip_real_files(people: Users, files_daemon: Running) -> None:
    owner, member, _srv, chan = await room(people)
    msg = await owner.send(chan["id"], "tonight's files")
    files = [("map.png", png(), "image/png"), ("photo.jpg", jpeg_with_gps(), "image/jpeg"),
             ("clip.mp4", mp4(), "video/mp4"), ("rules.pdf", pdf(), "application/pdf"),
             ("notes.txt", TEXT, "text/plain"), ("evil.png", HTML, "image/png")]
    r = await upload(owner, msg["id"], *files)
    assert r.status_code == 201, r.text
    got = r.json()
    assert [a["filename"] for a in got] == [f[0] for f in files]
    assert set(got[0]) >= {"id", "message_id", "filename", "file_size", "mime_type", "url", "width", "height",
                           "created_at"}
    by = {a["filename"]: a for a in got}
    assert by["map.png"]["mime_type"] == "image/png" and (by["map.png"]["width"], by["map.png"]["height"]) == (64, 48)
    assert by["photo.jpg"]["mime_type"] == "image/jpeg"
    assert (by["photo.jpg"]["width"], by["photo.jpg"]["height"]) == (600, 800)  # orientation 6 applied
    assert (by["clip.mp4"]["mime_type"], by["clip.mp4"]["width"], by["clip.mp4"]["height"]) == ("video/mp4", 1280, 720)
    assert by["rules.pdf"]["mime_type"] == "application/pdf" and by["rules.pdf"]["width"] is None
    assert by["notes.txt"]["mime_type"] == "text/plain"
    assert by["evil.png"]["mime_type"] == "text/plain"  # the bytes decide, not the name or Content-Type
    # listed, and inline in every message answer
    listed = (await member.get(f"/messages/{msg['id']}/attachments")).json()
    assert [a["id"] for a in listed] == [a["id"] for a in got]
    page = (await member.get(f"/channels/{chan['id']}/messages")).json()
    assert [a["id"] for a in page[0]["attachments"]] == [a["id"] for a in got]
    one = (await member.get(f"/channels/{chan['id']}/messages/{msg['id']}")).json()
    assert len(one["attachments"]) == 6
    # served without Authorization
    anon = people.anonymous()
    r = await fetch(anon, by["map.png"]["url"])
    assert r.status_code == 200 and r.content == png()
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["content-disposition"].startswith("inline;")
    assert r.headers["cache-control"].startswith("private, max-age=")
    # the GPS is gone, the picture is upright
    r = await fetch(anon, by["photo.jpg"]["url"])
    im = Image.open(io.BytesIO(r.content))
    assert im.size == (600, 800)
    exif = im.getexif()
    assert 0x8825 not in exif and not exif.get_ifd(0x8825) and b"SpyCam" not in r.content
    # HTML renamed .png: plain text, downloaded, never inline
    r = await fetch(anon, by["evil.png"]["url"])
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''evil.png" in r.headers["content-disposition"]
    for name in ("clip.mp4", "rules.pdf"):
        r = await fetch(anon, by[name]["url"])
        assert r.headers["content-disposition"].startswith("inline;"), name
    assert (await fetch(anon, by["notes.txt"]["url"])).headers["content-disposition"].startswith("attachment;")
    # the same path under /api
    r = await fetch(anon, "/api" + by["rules.pdf"]["url"])
    assert r.status_code == 200 and r.content == pdf()


async def test_thumbnail_and_unicode_names(people: Users) -> None:
    owner, _member, _srv, chan = await room(people)
    msg = await owner.send(chan["id"], "big picture")
    r = await upload(owner, msg["id"], ("../../etc/ré\u0301sumé\u202e\x07.jpg", jpeg_with_gps(1600, 1200, 1), "image/jpeg"))
    assert r.status_code == 201, r.text
    att = r.json()[0]
    assert att["filename"].startswith("etcr") and att["filename"].endswith(".jpg")  # no "../", no separators
    assert "/" not in att["filename"] and "\u202e" not in att["filename"] and "\x07" not in att["filename"]
    assert att["thumbnail_url"] and att["thumbnail_url"] != att["url"]
    r = await fetch(people.anonymous(), att["thumbnail_url"])
    assert r.status_code == 200 and r.headers["content-type"] in ("image/webp", "image/jpeg")
    thumb = Image.open(io.BytesIO(r.content))
    assert max(thumb.size) <= 400


async def test_signature_expiry_and_tampering(people: Users, files_daemon: Running) -> None:
    owner, _m, _s, chan = await room(people)
    msg = await owner.send(chan["id"], "signed")
    att = (await upload(owner, msg["id"], ("a.png", png(), "image/png"))).json()[0]
    anon = people.anonymous()
    url = att["url"]
    base, query = url.split("?")
    params = dict(kv.split("=") for kv in query.split("&"))
    bad_sig = params["sig"][:-2] + ("AA" if not params["sig"].endswith("AA") else "BB")
    for wrong in (base, f"{base}?ex={params['ex']}", f"{base}?ex={params['ex']}&sig={bad_sig}",
                  f"{base}?ex={int(params['ex']) + 3600}&sig={params['sig']}", f"{base}?ex=abc&sig=x"):
        r = await fetch(anon, wrong)
        assert (r.status_code, r.json()["code"]) == (403, "invalid_signature"), wrong
    # an expired signature (valid MAC, past expiry) is refused too
    signer = files_daemon.state.files_signer
    past = int(time.time()) - 10
    r = await fetch(anon, f"{base}?ex={past}&sig={signer._sig(att['id'], past)}")  # noqa: SLF001
    assert (r.status_code, r.json()["code"]) == (403, "invalid_signature")


async def test_range_and_etag(people: Users) -> None:
    owner, _m, _s, chan = await room(people)
    msg = await owner.send(chan["id"], "video")
    data = mp4()
    att = (await upload(owner, msg["id"], ("v.mp4", data, "video/mp4"))).json()[0]
    anon = people.anonymous()
    full = await fetch(anon, att["url"])
    etag = full.headers["etag"]
    assert (await fetch(anon, att["url"], **{"If-None-Match": etag})).status_code == 304
    r = await fetch(anon, att["url"], Range="bytes=10-19")
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = await fetch(anon, att["url"], Range="bytes=-8")
    assert r.status_code == 206 and r.content == data[-8:]
    r = await fetch(anon, att["url"], Range=f"bytes={len(data) + 5}-")
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"


async def test_permissions(people: Users, files_daemon: Running) -> None:
    owner, member, srv, chan = await room(people)
    outsider = await people.new("fout")
    msg = await member.send(chan["id"], "mine")
    one = [("a.png", png(), "image/png")]
    r = await upload(owner, msg["id"], *one)  # not the author (even the owner)
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    r = await upload(outsider, msg["id"], *one)  # cannot see the channel
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    r = await outsider.get(f"/messages/{msg['id']}/attachments")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    r = await people.anonymous().post(f"/messages/{msg['id']}/attachments", files=[("files", ("a.png", png()))])
    assert r.status_code == 401
    # no ATTACH_FILES: a user override denies it
    r = await owner.put(f"/channels/{chan['id']}/overrides",
                        json={"user_id": member.id, "allow": 0, "deny": int(Permission.ATTACH_FILES)})
    assert r.status_code in (200, 201), r.text
    r = await upload(member, msg["id"], *one)
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    # a bot author may attach to its own message
    r = await owner.post("/bots", json={"name": "Filer"})
    token = r.json()["token"]
    bot = Api(files_daemon.url)
    bot.client.headers["Authorization"] = f"Bot {token}"
    code = (await owner.post(f"/servers/{srv['id']}/invites", json={})).json()["code"]
    assert (await bot.client.post(f"/invites/{code}/accept")).status_code == 201
    bm = (await bot.client.post(f"/channels/{chan['id']}/messages", json={"content": "bot file"})).json()
    r = await bot.client.post(f"/messages/{bm['id']}/attachments", files=[("files", ("b.png", png()))])
    assert r.status_code == 201, r.text
    await bot.aclose()
    assert not list((blobs_dir(files_daemon) / "tmp").iterdir())


async def test_dm_attachments(people: Users) -> None:
    owner, member, _srv, _chan = await room(people)
    outsider = await people.new("fdmout")
    dm = (await owner.post("/dm-channels", json={"user_id": member.id})).json()
    m = (await owner.post(f"/dm-channels/{dm['id']}/messages", json={"content": "a file for you"})).json()
    r = await upload(outsider, m["id"], ("a.png", png(), "image/png"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")
    r = await upload(member, m["id"], ("a.png", png(), "image/png"))
    assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
    r = await upload(owner, m["id"], ("a.png", png(), "image/png"))
    assert r.status_code == 201
    page = (await member.get(f"/dm-channels/{dm['id']}/messages")).json()
    assert page[0]["attachments"][0]["filename"] == "a.png"
    assert len((await member.get(f"/messages/{m['id']}/attachments")).json()) == 1


async def test_limits_leave_nothing_behind(people: Users, files_daemon: Running) -> None:
    owner, _m, _s, chan = await room(people)
    msg = await owner.send(chan["id"], "limits")
    before = set(blob_files(files_daemon))
    eleven = [(f"f{i}.png", png(8 + i, 8), "image/png") for i in range(11)]
    r = await upload(owner, msg["id"], *eleven)
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed") and "files" in r.json()["errors"]
    big = os.urandom(MAX_FILE + 1)
    r = await upload(owner, msg["id"], ("ok.png", png(), "image/png"), ("big.bin", big, "application/zip"))
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert "files[1]" in r.json()["errors"]
    r = await upload(owner, msg["id"], ("bomb.png", png_bomb(), "image/png"))
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    assert "pixels" in r.json()["errors"]["files[0]"]
    r = await upload(owner, msg["id"], ("empty.txt", b"", "text/plain"))
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await upload(owner, msg["id"], ("x.exe", b"MZ\x90\x00" + os.urandom(500), "application/octet-stream"))
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await owner.post(f"/messages/{msg['id']}/attachments", content=b"not multipart",
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert (await owner.get(f"/messages/{msg['id']}/attachments")).json() == []
    assert set(blob_files(files_daemon)) == before
    assert not list((blobs_dir(files_daemon) / "tmp").iterdir())
    # the connection is still usable after each refusal
    assert (await owner.get("/users/@me")).status_code == 200


async def test_dedup_delete_and_purge(people: Users, files_daemon: Running) -> None:
    owner, member, _s, chan = await room(people)
    data = png(33, 33, (1, 2, 3))
    m1 = await owner.send(chan["id"], "one")
    m2 = await owner.send(chan["id"], "two")
    a1 = (await upload(owner, m1["id"], ("same.png", data, "image/png"))).json()[0]
    a2 = (await upload(owner, m2["id"], ("again.png", data, "image/png"))).json()[0]
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    blob = blobs_dir(files_daemon) / sha[:2] / sha[2:4] / sha
    assert blob.is_file() and sum(1 for p in blob_files(files_daemon) if p.name == sha) == 1
    assert (await owner.delete(f"/messages/{m1['id']}")).status_code == 204
    assert (await fetch(member, a1["url"])).status_code == 404
    assert (await fetch(member, a2["url"])).status_code == 200
    await trio.sleep(3)
    assert blob.is_file()  # still referenced by m2
    assert (await owner.delete(f"/messages/{m2['id']}")).status_code == 204
    assert (await member.get(f"/messages/{m2['id']}/attachments")).status_code == 404
    with trio.fail_after(15):
        while blob.is_file():
            await trio.sleep(0.2)


async def test_channel_server_and_account_delete_cascade(people: Users, files_daemon: Running) -> None:
    owner, member, srv, chan = await room(people)
    other = await owner.channel(srv["id"], "second")
    m1 = await owner.send(chan["id"], "c1")
    m2 = await member.send(other["id"], "c2")
    a1 = (await upload(owner, m1["id"], ("c1.png", png(11, 11, (9, 9, 1)), "image/png"))).json()[0]
    a2 = (await upload(member, m2["id"], ("c2.png", png(12, 12, (9, 9, 2)), "image/png"))).json()[0]
    assert (await owner.delete(f"/channels/{chan['id']}")).status_code == 204
    assert (await fetch(owner, a1["url"])).status_code == 404
    r = await member.request("DELETE", "/users/@me", json={"password": "correct horse"})
    assert r.status_code == 204, r.text
    assert (await fetch(owner, a2["url"])).status_code == 404
    page = (await owner.get(f"/channels/{other['id']}/messages")).json()
    assert page[0]["attachments"] == []
    m3 = await owner.send(other["id"], "c3")
    a3 = (await upload(owner, m3["id"], ("c3.png", png(13, 13, (9, 9, 3)), "image/png"))).json()[0]
    assert (await owner.delete(f"/servers/{srv['id']}")).status_code == 204
    assert (await fetch(owner, a3["url"])).status_code == 404


async def test_two_step_flow_of_the_together_web_client(people: Users) -> None:
    owner, member, _s, chan = await room(people)
    r = await owner.post(f"/channels/{chan['id']}/messages", json={"content": "\u200b"})
    assert r.status_code == 201
    mid = r.json()["id"]
    # nothing to see until the files come
    assert mid not in [m["id"] for m in (await member.get(f"/channels/{chan['id']}/messages")).json()]
    r = await upload(owner, mid, ("shot.png", png(), "image/png"))
    assert r.status_code == 201, r.text
    page = (await member.get(f"/channels/{chan['id']}/messages")).json()
    assert page[0]["id"] == mid and page[0]["attachments"][0]["filename"] == "shot.png"
    # a "\u200b" with no file after pending_seconds (2 s here) is deleted
    r = await owner.post(f"/channels/{chan['id']}/messages", json={"content": "\u200b"})
    lonely = r.json()["id"]
    await trio.sleep(4.5)
    r = await upload(owner, lonely, ("late.png", png(), "image/png"))
    assert (r.status_code, r.json()["code"]) == (404, "unknown_message")


async def test_one_step_multipart_post(people: Users) -> None:
    owner, member, _s, chan = await room(people)
    r = await owner.post(f"/channels/{chan['id']}/messages", data={"content": "with files"},
                         files=[("files", ("a.png", png(), "image/png")), ("files", ("b.pdf", pdf(), "application/pdf"))])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["content"] == "with files" and [a["filename"] for a in body["attachments"]] == ["a.png", "b.pdf"]
    r = await owner.post(f"/channels/{chan['id']}/messages", files=[("files", ("only.png", png(), "image/png"))])
    assert r.status_code == 201 and r.json()["content"] == ""
    boundary = "b0undary"
    only_text = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n\u200b\r\n"
                 f"--{boundary}--\r\n").encode()
    r = await owner.post(f"/channels/{chan['id']}/messages", content=only_text,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await member.get(f"/channels/{chan['id']}/messages")
    assert [len(m["attachments"]) for m in r.json()[:2]] == [1, 2]


async def test_search_filters_and_file_names(people: Users) -> None:
    owner, _member, srv, chan = await room(people)
    m_img = await owner.send(chan["id"], "look at this")
    m_vid = await owner.send(chan["id"], "and this")
    m_pdf = await owner.send(chan["id"], "rules attached")
    await owner.send(chan["id"], "plain words")
    await upload(owner, m_img["id"], ("sunset-panorama.png", png(), "image/png"))
    await upload(owner, m_vid["id"], ("clip.mp4", mp4(), "video/mp4"))
    await upload(owner, m_pdf["id"], ("tournament-bracket.pdf", pdf(), "application/pdf"))

    async def ids(q: str) -> list[str]:
        r = await owner.get(f"/servers/{srv['id']}/search", params={"q": q})
        assert r.status_code == 200, r.text
        return [h["id"] for h in r.json()["results"]]

    assert await ids("has:file") == [m_pdf["id"], m_vid["id"], m_img["id"]]
    assert await ids("has:image") == [m_img["id"]]
    assert await ids("has:video") == [m_vid["id"]]
    assert await ids("bracket") == [m_pdf["id"]]
    assert await ids("panorama") == [m_img["id"]]
    r = await owner.get(f"/servers/{srv['id']}/search", params={"q": "has:image"})
    assert r.json()["results"][0]["attachments"][0]["filename"] == "sunset-panorama.png"
    r = await owner.get(f"/servers/{srv['id']}/search", params={"q": "has:pdf"})
    assert r.status_code == 400


async def test_kill_mid_upload_leaves_nothing(tmp_path: Path) -> None:
    """kill -9 while an upload streams, restart: no row, no blob, no temp file."""
    import subprocess
    import sys

    from test_core_cli import URL_RE

    data_dir = tmp_path / "data"
    conf = tmp_path / "t.toml"
    conf.write_text(f'[server]\nport = 0\ndata_dir = "{data_dir}"\n[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n'
                    '[ratelimit]\nenabled = false\n[attachments]\nmin_free_disk_bytes = 0\n')

    def start() -> tuple[subprocess.Popen[str], str]:
        p = subprocess.Popen([sys.executable, "-m", "together_server", "serve", "--config", str(conf)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        assert p.stdout is not None
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            m = URL_RE.search(line)
            if m:
                return p, m.group(1)
        p.kill()
        raise AssertionError("daemon did not start")

    proc, url = start()
    try:
        users = Users(url)
        alice = await users.new("kill")
        srv = await alice.server("Kill")
        chan = await alice.channel(srv["id"])
        msg = await alice.send(chan["id"], "about to upload")
        boundary = "killboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n"
                "Content-Type: application/zip\r\n\r\n").encode() + b"PK\x03\x04"
        sent = trio.Event()

        async def body() -> Any:
            yield head
            for _ in range(40):
                yield os.urandom(64 * 1024)
            sent.set()
            await trio.sleep(60)  # never finishes: the daemon dies first
            yield b""

        async def post() -> None:
            try:
                await alice.client.post(f"/messages/{msg['id']}/attachments", content=body(),
                                        headers={"Authorization": f"Bearer {alice.token}",
                                                 "Content-Type": f"multipart/form-data; boundary={boundary}"})
            except Exception:  # noqa: BLE001 - the connection dies with the daemon
                pass

        async with trio.open_nursery() as n:
            n.start_soon(post)
            with trio.fail_after(20):
                await sent.wait()
                tmp = data_dir / "blobs" / "tmp"
                while not any(p.stat().st_size > 0 for p in tmp.iterdir()):
                    await trio.sleep(0.05)
            proc.kill()  # SIGKILL
            proc.wait(10)
            assert proc.stdout is not None
            proc.stdout.close()
            n.cancel_scope.cancel()
        await users.close()
        assert any((data_dir / "blobs" / "tmp").iterdir())  # the half upload is on disk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    proc, url = start()
    try:
        assert not list((data_dir / "blobs" / "tmp").iterdir())
        assert not [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
        db = sqlite3.connect(data_dir / "together.db")
        assert db.execute("SELECT count(*) FROM attachments").fetchone()[0] == 0
        db.close()
    finally:
        proc.terminate()
        proc.wait(20)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_update_event_carries_the_files(people: Users, files_daemon: Running) -> None:
    """A viewer's gateway gets MESSAGE_UPDATE with the attachments; a pending message's
    first event is MESSAGE_CREATE with its files."""
    import orjson
    from trio_websocket import open_websocket_url

    owner, member, _s, chan = await room(people)
    msg = await owner.send(chan["id"], "event please")
    url = files_daemon.url.replace("http://", "ws://") + f"/ws?token={member.token}"

    async def next_of(ws: Any, kind: str) -> Any:
        while True:
            frame = orjson.loads(await ws.get_message())
            if frame.get("t") == kind:
                return frame["d"]

    with trio.fail_after(20):
        async with open_websocket_url(url) as ws:
            assert orjson.loads(await ws.get_message())["t"] == "READY"
            r = await upload(owner, msg["id"], ("e.png", png(), "image/png"))
            assert r.status_code == 201
            d = await next_of(ws, "MESSAGE_UPDATE")
            assert d["id"] == msg["id"] and d["attachments"][0]["id"] == r.json()[0]["id"]
            pending = (await owner.post(f"/channels/{chan['id']}/messages", json={"content": "\u200b"})).json()
            r = await upload(owner, pending["id"], ("p.png", png(), "image/png"))
            d = await next_of(ws, "MESSAGE_CREATE")
            assert d["id"] == pending["id"] and d["attachments"][0]["filename"] == "p.png"


async def test_quota_and_disk_floor(nursery: trio.Nursery, tmp_path: Path) -> None:
    from together_server.daemon import run_daemon

    async def start(**attachments: Any) -> Running:
        cfg = make_config(tmp_path / f"d{len(attachments)}{sorted(attachments)[0]}", attachments=attachments)
        return await nursery.start(lambda task_status: run_daemon(  # type: ignore[no-any-return]
            cfg, task_status=task_status, install_signal_handlers=False))

    quota = await start(max_bytes_per_user=20_000, min_free_disk_bytes=0)
    users = Users(quota.url)
    alice = await users.new("quota")
    srv = await alice.server("Q")
    chan = await alice.channel(srv["id"])
    m = await alice.send(chan["id"], "q")
    assert (await upload(alice, m["id"], ("a.txt", b"a" * 15_000, "text/plain"))).status_code == 201
    r = await upload(alice, m["id"], ("b.txt", b"b" * 15_000, "text/plain"))
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large") and "quota" in r.json()["errors"]["files"]
    assert not list((quota.state.config.data_path / "blobs" / "tmp").iterdir())
    await users.close()
    quota.shutdown()

    full = await start(min_free_disk_bytes=1 << 50)  # "the disk is nearly full"
    users = Users(full.url)
    bob = await users.new("floor")
    srv = await bob.server("F")
    chan = await bob.channel(srv["id"])
    m = await bob.send(chan["id"], "messages still post")
    r = await upload(bob, m["id"], ("a.png", png(), "image/png"))
    assert (r.status_code, r.json()["code"]) == (507, "insufficient_storage")
    assert "disk" in r.json()["message"]
    r = await bob.post(f"/channels/{chan['id']}/messages", files=[("files", ("a.png", png(), "image/png"))])
    assert r.status_code == 507
    assert (await bob.post(f"/channels/{chan['id']}/messages", json={"content": "still here"})).status_code == 201
    await users.close()
    full.shutdown()
