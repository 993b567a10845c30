"""Custom emoji (issue 12): multipart upload through the attachments pipeline's checks, name
rules and the per-server cap, MANAGE_EMOJIS, the image served without Authorization, live
CUSTOM_EMOJI_CREATE / DELETE, reactions with ``c:<id>``, deletion cascades, the audit log."""

from __future__ import annotations

import io
from typing import Any

from conftest import Api, Users
from PIL import Image
from test_gateway_client import connect
from test_gateway_events import kinds, seen_before_sentinel

from together_server import permissions as p
from together_server.daemon import Running


def png(size: tuple[int, int] = (64, 64), color: str = "red", fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


async def upload(api: Api, server_id: str, name: str, data: bytes, filename: str = "e.png") -> Any:
    return await api.post(f"/servers/{server_id}/emojis", data={"name": name},
                          files={"image": (filename, data, "image/png")})


async def pair(users: Users) -> tuple[Api, Api, dict[str, Any]]:
    alice, bob = await users.new("alice"), await users.new("bob")
    srv = await alice.server("Emoji")
    await alice.invite_and_join(srv["id"], bob)
    return alice, bob, srv


async def test_upload_list_serve_delete_live(shared: Running, users: Users) -> None:
    alice, bob, srv = await pair(users)
    sid = srv["id"]
    async with connect(shared.url, bob.token) as gb:
        await seen_before_sentinel(gb, bob)
        r = await upload(alice, sid, "party_parrot", png())
        assert r.status_code == 201, r.text
        emoji = r.json()
        assert emoji["name"] == "party_parrot" and emoji["server_id"] == sid and emoji["created_by"] == alice.id
        assert emoji["url"] == f"/emojis/{emoji['id']}" and emoji["content_type"] == "image/png"
        assert (emoji["width"], emoji["height"]) == (64, 64) and emoji["file_size"] > 0
        got = await seen_before_sentinel(gb, bob)
        assert kinds(got) == ["CUSTOM_EMOJI_CREATE"] and got[0]["d"] == emoji
        listed = (await bob.get(f"/servers/{sid}/emojis")).json()
        assert listed == [emoji]
        # served without any credential, as an <img> loads it
        r = await users.anonymous().get(emoji["url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff" and "immutable" in r.headers["cache-control"]
        assert Image.open(io.BytesIO(r.content)).size == (64, 64)
        r2 = await users.anonymous().get(emoji["url"], headers={"If-None-Match": r.headers["etag"]})
        assert r2.status_code == 304
        assert (await users.anonymous().get(f"/api{emoji['url']}")).status_code == 200
        r = await bob.delete(f"/servers/{sid}/emojis/{emoji['id']}")
        assert (r.status_code, r.json()["code"]) == (403, "missing_permission")
        r = await alice.delete(f"/servers/{sid}/emojis/{emoji['id']}")
        assert r.status_code == 204 and r.content == b""
        got = await seen_before_sentinel(gb, bob)
        assert kinds(got) == ["CUSTOM_EMOJI_DELETE"] and got[0]["d"] == {"server_id": sid, "emoji_id": emoji["id"]}
    assert (await bob.get(f"/servers/{sid}/emojis")).json() == []
    r = await users.anonymous().get(emoji["url"])
    assert (r.status_code, r.json()["code"]) == (404, "unknown_emoji")
    r = await alice.delete(f"/servers/{sid}/emojis/{emoji['id']}")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_emoji")
    log = (await alice.get(f"/servers/{sid}/audit-logs")).json()
    assert [e["action"] for e in log][:2] == ["emoji_delete", "emoji_create"]


async def test_refusals(shared: Running, users: Users) -> None:
    alice, bob, srv = await pair(users)
    carol = await users.new("carol")
    sid = srv["id"]
    assert (await upload(bob, sid, "nope", png())).status_code == 403
    r = await upload(carol, sid, "nope", png())
    assert (r.status_code, r.json()["code"]) == (404, "unknown_server")
    for name in ("a", "Upper", "has space", "x" * 33, "émoji", ""):
        r = await upload(alice, sid, name, png())
        assert (r.status_code, list(r.json()["errors"])) == (400, ["name"]), name
    bad_images = [
        b"<html><script>alert(1)</script></html>",  # markup, whatever it is called
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,  # a PNG signature with nothing behind it
        png((2000, 20)),  # over 1024 pixels a side
        b"\x89PNG\r\n\x1a\n" + b"0" * (300 * 1024),  # over 256 KiB
        b"",
        png(fmt="BMP"),
    ]
    for data in bad_images:
        r = await upload(alice, sid, "bad_one", data)
        assert (r.status_code, r.json()["code"], list(r.json()["errors"])) == (400, "validation_failed", ["image"])
    r = await alice.post(f"/servers/{sid}/emojis", json={"name": "json_body"})
    assert (r.status_code, r.json()["code"]) == (400, "validation_failed")
    r = await alice.post(f"/servers/{sid}/emojis", data={"name": "form_only"})
    assert (r.status_code, list(r.json()["errors"])) == (400, ["Content-Type"])
    r = await alice.post(f"/servers/{sid}/emojis", files={"name": (None, "no_file")})
    assert (r.status_code, list(r.json()["errors"])) == (400, ["image"])
    assert (await upload(alice, sid, "dupe", png())).status_code == 201
    r = await upload(alice, sid, "dupe", png(color="blue"))
    assert (r.status_code, r.json()["code"]) == (409, "emoji_name_taken")
    tmp = shared.state.config.data_path / "blobs" / "tmp"  # a refused upload leaves no file behind
    assert not [p for p in tmp.iterdir() if p.is_file()] if tmp.exists() else True
    assert (await upload(alice, sid, "jpeg_one", png(fmt="JPEG"))).json()["content_type"] == "image/jpeg"
    assert (await upload(alice, sid, "gif_one", png(fmt="GIF"))).json()["content_type"] == "image/gif"
    assert (await alice.get(f"/servers/{sid}/emojis")).status_code == 200


async def test_permission_bit_and_cap(shared: Running, users: Users) -> None:
    alice, bob, srv = await pair(users)
    sid = srv["id"]
    role = (await alice.post(f"/servers/{sid}/roles", json={"name": "emoji", "permissions": int(p.Permission.MANAGE_EMOJIS),
                                                           "position": 1})).json()
    assert (await alice.put(f"/servers/{sid}/members/{bob.id}/roles/{role['id']}")).status_code == 204
    assert (await upload(bob, sid, "bobs", png())).status_code == 201
    cap = shared.state.config.limits.emojis_per_server
    for i in range(cap - 1):
        assert (await upload(alice, sid, f"e{i}", png(color=(i, 0, 0)))).status_code == 201  # type: ignore[arg-type]
    r = await upload(alice, sid, "one_too_many", png())
    assert (r.status_code, r.json()["code"]) == (400, "limit_reached")


async def test_reactions_with_custom_emoji(users: Users, record: Any) -> None:
    alice, bob, srv = await pair(users)
    sid = srv["id"]
    chan = await alice.channel(sid)
    msg = await alice.send(chan["id"], "react to me")
    emoji = (await upload(alice, sid, "blob_wave", png())).json()
    key = f"c:{emoji['id']}"
    base = f"/channels/{chan['id']}/messages/{msg['id']}/reactions"
    assert (await bob.put(f"{base}/{key}")).status_code == 204
    assert (await alice.get(base)).json() == [{"emoji": key, "count": 1, "me": False}]
    other = await alice.server("Other")
    foreign = (await upload(alice, other["id"], "elsewhere", png())).json()
    r = await bob.put(f"{base}/c:{foreign['id']}")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_emoji")
    r = await bob.put(f"{base}/c:00000000-0000-7000-8000-000000000000")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_emoji")
    assert (await bob.put(f"{base}/c:not-an-id")).status_code == 204  # an ordinary short name
    rb = record(bob)
    assert (await alice.delete(f"/servers/{sid}/emojis/{emoji['id']}")).status_code == 204
    assert rb.types() == ["REACTION_REMOVE", "CUSTOM_EMOJI_DELETE"]
    assert rb.of("REACTION_REMOVE")[0]["emoji"] == key
    assert [x["emoji"] for x in (await alice.get(base)).json()] == ["c:not-an-id"]
