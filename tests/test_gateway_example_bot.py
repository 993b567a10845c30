"""examples/ping_bot.py against the real daemon: it answers "!ping" with "pong", with a
bot token (``Authorization: Bot``) and with a user's access token."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio
from conftest import Api, Users
from test_gateway_client import connect

from together_server.daemon import Running

BOT = Path(__file__).resolve().parents[1] / "examples" / "ping_bot.py"


async def run_bot_and_ping(shared: Running, alice: Api, chan: dict[str, object], bot_user_id: str,
                           env: dict[str, str]) -> None:
    async with connect(shared.url, alice.token) as ga:
        await ga.sync()
        proc = await trio.lowlevel.open_process(
            [sys.executable, str(BOT)], env={**os.environ, "TOGETHER_URL": shared.url, **env})
        try:
            await ga.until("PRESENCE_UPDATE", lambda d: d["user_id"] == bot_user_id and d["status"] == "online")
            await alice.send(str(chan["id"]), "!ping")
            msg, _ = await ga.until("MESSAGE_CREATE", lambda d: d["author_id"] == bot_user_id)
            assert msg["d"]["content"] == "pong" and msg["d"]["channel_id"] == chan["id"]
        finally:
            proc.kill()
            await proc.wait()


async def test_ping_bot_with_bot_token(shared: Running, users: Users) -> None:
    alice = await users.new("alice")
    srv = await alice.server("Bot home")
    chan = await alice.channel(srv["id"])
    r = await alice.post("/bots", json={"name": "Pinger"})
    assert r.status_code == 201, r.text
    token, bot_user = r.json()["token"], r.json()["bot"]["user_id"]
    invite = (await alice.post(f"/servers/{srv['id']}/invites", json={})).json()["code"]
    r = await alice.post(f"/invites/{invite}/accept", headers={"Authorization": f"Bot {token}"})
    assert r.status_code == 201, r.text
    await run_bot_and_ping(shared, alice, chan, bot_user, {"TOGETHER_BOT_TOKEN": token})


async def test_ping_bot_with_user_token(shared: Running, users: Users) -> None:
    alice, helper = await users.new("alice"), await users.new("helper")
    srv = await alice.server("Bot home")
    chan = await alice.channel(srv["id"])
    await alice.invite_and_join(srv["id"], helper)
    env = {"TOGETHER_TOKEN": str(helper.token)}
    os.environ.pop("TOGETHER_BOT_TOKEN", None)
    await run_bot_and_ping(shared, alice, chan, helper.id, env)
