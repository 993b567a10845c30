"""``GET /ice-servers`` (API.md §3.7; FIELD-CASES F29): STUN/TURN from config, coturn REST
credentials recomputed here with the shared secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import Api, Users, make_config

from together_server.config import ConfigError, structure_config
from together_server.daemon import Running, run_daemon

SECRET = "k" * 20 + "-shared-turn-secret-0123456789"
STUN = ["stun:stun.example.org:3478"]
TURN = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"]
TTL = 3600


async def start(nursery: trio.Nursery, tmp_path: Path, **ice: Any) -> Running:
    cfg = make_config(tmp_path / "data", ice=ice) if ice else make_config(tmp_path / "data")
    running: Running = await nursery.start(
        lambda task_status: run_daemon(cfg, task_status=task_status, install_signal_handlers=False)
    )
    return running


def hmac_b64(secret: str, message: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()).decode()


def turn_pair(body: dict[str, Any]) -> tuple[str, str]:
    pairs = {(e["username"], e["credential"]) for e in body["iceServers"] if e["urls"].startswith(("turn:", "turns:"))}
    assert len(pairs) == 1, "all TURN entries share one credential pair"
    return pairs.pop()


async def test_f29_turn_credentials(nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    running = await start(nursery, tmp_path, stun_urls=STUN, turn_urls=TURN, turn_secret=SECRET, turn_ttl_seconds=TTL)
    users = Users(running.url)
    try:
        alice = await users.new("alice")
        r = await alice.get("/ice-servers")
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"iceServers", "ttl"} and body["ttl"] == TTL
        assert [e["urls"] for e in body["iceServers"]] == STUN + TURN
        assert body["iceServers"][0] == {"urls": STUN[0]}  # STUN: no username / credential keys
        username, credential = turn_pair(body)
        expiry, _, uid = username.partition(":")
        assert uid == alice.id
        assert abs(int(expiry) - (time.time() + TTL)) <= 5
        assert credential == hmac_b64(SECRET, username)
        assert SECRET not in r.text

        await trio.sleep(1.01)  # expiry has whole-second resolution
        again = turn_pair((await alice.get("/ice-servers")).json())
        assert int(again[0].split(":")[0]) > int(expiry)
        assert again[1] == hmac_b64(SECRET, again[0])

        # a bot gets credentials for its own user id
        bot = (await alice.post("/bots", json={"name": "caller"})).json()
        bot_api = Api(running.url)
        bot_api.client.headers["Authorization"] = f"Bot {bot['token']}"
        try:
            bname, bcred = turn_pair((await bot_api.get("/ice-servers")).json())
            assert bname.split(":", 1)[1] == bot["bot"]["user_id"] and bcred == hmac_b64(SECRET, bname)
        finally:
            await bot_api.aclose()

        r = await users.anonymous().get("/ice-servers")
        assert r.status_code == 401 and r.json()["code"] == "missing_token"
        assert SECRET not in r.text
    finally:
        await users.close()
        running.shutdown()
    assert SECRET not in caplog.text
    assert SECRET not in repr(running.state.config)


async def test_default_daemon_has_no_ice_servers(shared: Running) -> None:
    users = Users(shared.url)
    try:
        alice = await users.new("alice")
        r = await alice.get("/ice-servers")
        assert r.status_code == 200
        assert r.json() == {"iceServers": [], "ttl": 86400}
    finally:
        await users.close()


@pytest.mark.parametrize(
    "ice",
    [
        {"stun_urls": STUN},
        {"stun_urls": STUN, "turn_secret": SECRET},  # a secret without TURN URLs: STUN only
    ],
)
async def test_stun_only(nursery: trio.Nursery, tmp_path: Path, ice: dict[str, Any]) -> None:
    running = await start(nursery, tmp_path, **ice)
    users = Users(running.url)
    try:
        alice = await users.new("alice")
        r = await alice.get("/ice-servers")
        assert r.json() == {"iceServers": [{"urls": u} for u in STUN], "ttl": 86400}
    finally:
        await users.close()
        running.shutdown()


def test_turn_urls_without_secret_refused(tmp_path: Path) -> None:
    """TURN URLs need the secret to mint credentials: refused at start, not silently dropped."""
    with pytest.raises(ConfigError, match="ice.turn_urls: needs ice.turn_secret"):
        structure_config({"server": {"data_dir": str(tmp_path)}, "ice": {"stun_urls": STUN, "turn_urls": TURN}})


def test_short_turn_secret_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ice.turn_secret"):
        structure_config({"server": {"data_dir": str(tmp_path)}, "ice": {"turn_secret": "short"}})


def test_turnserver_example_matches_config_keys() -> None:
    """config/turnserver.conf.example uses the coturn REST scheme §3.7 describes."""
    text = (Path(__file__).resolve().parents[1] / "config" / "turnserver.conf.example").read_text()
    lines = {line.strip().split("=", 1)[0] for line in text.splitlines() if line.strip() and not line.startswith("#")}
    assert {"use-auth-secret", "static-auth-secret", "realm"} <= lines
    assert "ice.turn_secret" in text and "ice.turn_urls" in text and "ice.turn_ttl_seconds" in text
