"""Reply "pong" to "!ping". Env: TOGETHER_URL, and TOGETHER_BOT_TOKEN or TOGETHER_TOKEN."""
import json
import os

import httpx
import trio
from trio_websocket import open_websocket_url

URL = os.environ.get("TOGETHER_URL", "http://127.0.0.1:8080")
BOT = os.environ.get("TOGETHER_BOT_TOKEN")
AUTH = {"Authorization": f"Bot {BOT}" if BOT else f"Bearer {os.environ['TOGETHER_TOKEN']}"}


async def main() -> None:
    async with httpx.AsyncClient(base_url=URL, headers=AUTH) as http, trio.open_nursery() as nursery, \
            open_websocket_url(URL.replace("http", "ws", 1) + "/ws", extra_headers=list(AUTH.items())) as ws:
        ready = json.loads(await ws.get_message())["d"]
        nursery.start_soon(beat, ws, ready["heartbeat_interval"] / 1000)
        while True:
            msg = json.loads(await ws.get_message())
            d = msg.get("d") or {}
            if msg.get("t") == "MESSAGE_CREATE" and d["content"] == "!ping" and d["author_id"] != ready["user"]["id"]:
                await http.post(f"/channels/{d['channel_id']}/messages", json={"content": "pong"})


async def beat(ws, seconds: float) -> None:  # noqa: ANN001 - keep the example short
    while True:
        await trio.sleep(seconds)
        await ws.send_message('{"op": "HEARTBEAT"}')


if __name__ == "__main__":
    trio.run(main)
