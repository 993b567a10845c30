"""The storage layer alone behaves as it does under the daemon (issue 16).

Every cascade is an explicit call in the function that owns the change, so a script that
imports only ``together_server.storage`` (a CLI command, a bench) gets the same side effects:
a bot's post is logged, a deleted account's bots are revoked, a removed member's voice state
ends. Run in a fresh interpreter, so no other test's imports can register anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import json, sys
from pathlib import Path

import trio

from together_server.storage import bots, channels, messages, servers, users, voice
from together_server.storage.bots import BotRegistry
from together_server.storage.db import Database


def user(tx, name):
    from together_server.storage import accounts
    return accounts.create_user(tx, username=name, username_fold=name, email=None, email_fold=None,
                                password_hash="x")["id"]


async def main(folder):
    events, revoked = [], []
    registry = BotRegistry()
    async with Database(Path(folder) / "alone.db", publish=events.extend).open() as db:
        alice = await db.write(lambda tx: user(tx, "alice"))
        carl = await db.write(lambda tx: user(tx, "carl"))
        bot, _token = await db.write(lambda tx: bots.create_bot(tx, registry, carl, "Helper", None, 5))
        srv = await db.write(lambda tx: servers.create_server(tx, alice, {"name": "Alone"}))
        chan = await db.write(lambda tx: channels.create_channel(
            tx, srv["id"], alice, {"name": "general", "type": "text"}, 100))
        lounge = await db.write(lambda tx: channels.create_channel(
            tx, srv["id"], alice, {"name": "lounge", "type": "voice"}, 100))
        invite = await db.write(lambda tx: servers.create_invite(tx, srv["id"], alice, None, None))
        for uid in (bot["user_id"], carl):
            await db.write(lambda tx, uid=uid: servers.accept_invite(tx, invite["code"], uid, lambda _u: False))
        await db.write(lambda tx: messages.post(tx, chan["id"], bot["user_id"], "hello from a bot", None))
        log = await db.read(bots.logs, bot["id"], carl)
        await db.write(lambda tx: voice.join(tx, lounge["id"], carl, "session-1"))
        events.clear()
        await db.write(lambda tx: users.delete_account(tx, carl, lambda kind, key: revoked.append(kind)))
        after = await db.read(lambda conn: conn.execute(
            "SELECT revoked_at IS NOT NULL FROM bots WHERE id = ?", (bot["id"],)).fetchone()[0])
        states = await db.read(lambda conn: conn.execute("SELECT count(*) FROM voice_states").fetchone()[0])
    print(json.dumps({
        "api_imported": sorted(m for m in sys.modules if m.startswith("together_server.api")),
        "log_events": [e["event"] for e in log],
        "bot_revoked": bool(after),
        "revoked_kinds": sorted(set(revoked)),
        "voice_states_left": states,
        "delete_events": [e.type for e in events],
    }))


trio.run(main, sys.argv[1])
'''


def test_storage_alone_logs_bot_posts_and_cascades_an_account_delete(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["api_imported"] == []
    assert out["log_events"][0] == "message_sent"  # newest first: the post was logged
    assert out["bot_revoked"] is True
    assert "bot" in out["revoked_kinds"]
    assert out["voice_states_left"] == 0
    # remove_member's order: MEMBER_LEAVE first, then the voice leave
    assert out["delete_events"][:2] == ["MEMBER_LEAVE", "VOICE_STATE_UPDATE"]
