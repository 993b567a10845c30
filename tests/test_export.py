"""Server export (issue 13): the owner streams a ZIP of channels, messages, members, roles."""

from __future__ import annotations

import io
import zipfile

import orjson
from conftest import Users
from test_roles import give, role, setup


async def test_owner_exports_a_zip(users: Users) -> None:
    owner, member, srv = await setup(users)
    sid = srv["id"]
    general = await owner.channel(sid, "General chat")
    await owner.channel(sid, "voice", "voice")
    staff = await role(owner, sid, name="staff", permissions=0, color="#112233")
    await give(owner, sid, member.id, staff["id"])
    sent = [await member.send(general["id"], f"message {i} ✨") for i in range(1200)]
    attached = await owner.send(general["id"], "see the file")
    up = await owner.post(f"/messages/{attached['id']}/attachments",
                          files=[("files", ("notes.txt", b"bring snacks\n" * 20, "text/plain"))])
    assert up.status_code == 201, up.text
    gone = await owner.send(general["id"], "deleted later")
    assert (await owner.delete(f"/messages/{gone['id']}")).status_code == 204

    assert (await member.get(f"/servers/{sid}/export")).json()["code"] == "not_owner"
    stranger = await users.new("stranger")
    assert (await stranger.get(f"/servers/{sid}/export")).status_code == 404

    async with owner.client.stream("GET", f"/servers/{sid}/export",
                                   headers={"Authorization": f"Bearer {owner.token}"}) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert "attachment" in r.headers["content-disposition"] and ".zip" in r.headers["content-disposition"]
        assert "content-length" not in r.headers  # streamed
        raw = b"".join([chunk async for chunk in r.aiter_bytes()])
    zf = zipfile.ZipFile(io.BytesIO(raw))
    assert zf.testzip() is None
    names = zf.namelist()
    top = names[0].split("/")[0] + "/"
    assert top.endswith(f"{sid}/")
    server = orjson.loads(zf.read(top + "server.json"))
    assert server["id"] == sid and server["owner_id"] == owner.id
    channels = orjson.loads(zf.read(top + "channels.json"))
    assert {c["name"] for c in channels} == {"General chat", "voice"}
    members = {m["user_id"]: m for m in orjson.loads(zf.read(top + "members.json"))}
    assert members[member.id]["role_ids"] == [staff["id"]] and "email" not in members[member.id]
    assert [r["name"] for r in orjson.loads(zf.read(top + "roles.json"))] == ["staff"]
    lines = zf.read(f"{top}messages/general-chat-{general['id']}.jsonl").decode().splitlines()
    exported = [orjson.loads(line) for line in lines]
    assert [m["id"] for m in exported] == [m["id"] for m in sent] + [attached["id"]]  # oldest first, no deleted
    assert exported[0]["content"] == "message 0 ✨" and exported[0]["author_username"] == member.user["username"]
    assert exported[0]["attachments"] == []
    meta = exported[-1]["attachments"]
    assert [(a["filename"], a["file_size"], a["mime_type"]) for a in meta] == [("notes.txt", 260, "text/plain")]
    assert len(meta[0]["sha256"]) == 64
    assert not any(n.startswith(f"{top}messages/voice") for n in names)
