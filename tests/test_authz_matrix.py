"""The authorization matrix (API.md §1.6, §4.1): EVERY route the app serves × six callers.

Callers: ``anonymous`` (no token), ``non_member`` (a user outside the server),
``without`` (a member lacking the bit the route needs), ``with`` (a member holding only
that bit through a role), ``owner``, ``banned`` (a former member, now banned).

One table, ``TABLE``, keyed by ``(METHOD, rule)`` exactly as the Quart URL map spells the
rule (``/servers/<server_id>/roles``). ``test_every_route_has_a_row`` fails for any route
without a row and names the row to add; a route whose callers do not apply (not an API
route) gets ``NA("why")``. Each row's ``kind`` gives the expected status per caller
(``expected``), ``exp`` overrides single cells (``None`` = not applicable, skipped), and
``prep`` builds fresh targets so a destructive call never spoils the next one; callers in
``fresh`` get a brand-new server (same people) because a success changes who belongs.
"""

from __future__ import annotations

import itertools
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from conftest import Api, Users

from together_server.app import create_app
from together_server.daemon import Running
from together_server.permissions import Permission

P = Permission
NOBODY = "0190f5d2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"
CALLERS = ("anonymous", "non_member", "without", "with", "owner", "banned")
EMOJI = urllib.parse.quote("👍")

# Channel bits every member holds by default: "without" is a member denied it on the
# world's text channel (voice channel for CONNECT_VOICE, both for VIEW_CHANNEL) by a user
# override (the persona named here).
DENIED_PERSONA = {"VIEW_CHANNEL": "noview", "SEND_MESSAGES": "nosend", "ADD_REACTIONS": "noreact",
                  "CONNECT_VOICE": "novoice"}
SERVER_BITS = ("MANAGE_SERVER", "MANAGE_CHANNELS", "MANAGE_ROLES", "KICK_MEMBERS", "BAN_MEMBERS",
               "MUTE_MEMBERS", "CREATE_INVITES", "MANAGE_MESSAGES", "ADMINISTRATOR",
               "VIEW_AUDIT_LOG", "MANAGE_WEBHOOKS", "MANAGE_AUTOMOD", "MANAGE_EMOJIS")


class World:
    """Server ``sid`` of ``owner`` with text channel ``cid`` (message ``mid`` by the owner)
    and voice channel ``vid``. ``people``: plain, the ``DENIED_PERSONA`` members, one ``with_<BIT>`` per
    server bit (a role holding only that bit, position 10), outsider, banned."""

    def __init__(self, people: dict[str, Api]) -> None:
        self.people = people
        self.owner = people["owner"]
        self.sid = self.cid = self.mid = self.vid = ""

    async def build(self) -> World:
        o = self.owner
        self.sid = (await o.server("Matrix"))["id"]
        self.cid = (await o.channel(self.sid))["id"]
        self.vid = (await o.channel(self.sid, "voice", "voice"))["id"]
        self.mid = (await o.send(self.cid, "hello matrix"))["id"]
        code = (await o.post(f"/servers/{self.sid}/invites", json={})).json()["code"]
        for name, api in self.people.items():
            if name not in ("owner", "outsider"):
                r = await api.post(f"/invites/{code}/accept")
                assert r.status_code == 201, r.text
        for bit in SERVER_BITS:
            rl = await self.role(permissions=int(P[bit]), position=10)
            await self.ok(o.put(f"/servers/{self.sid}/members/{self.people['with_' + bit].id}/roles/{rl}"))
        for bit, name in DENIED_PERSONA.items():
            where = {"VIEW_CHANNEL": (self.cid, self.vid), "CONNECT_VOICE": (self.vid,)}.get(bit, (self.cid,))
            for cid in where:
                await self.ok(o.put(f"/channels/{cid}/overrides",
                                    json={"user_id": self.people[name].id, "allow": 0, "deny": int(P[bit])}))
        await self.ok(o.post(f"/servers/{self.sid}/members/{self.people['banned'].id}/ban"))
        return self

    @staticmethod
    async def ok(call: Awaitable[Any]) -> Any:
        r = await call
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    async def role(self, permissions: int = 0, position: int = 0) -> str:
        r = await self.ok(self.owner.post(f"/servers/{self.sid}/roles",
                                          json={"name": "m", "permissions": permissions, "position": position}))
        return str(r["id"])

    async def channel(self) -> str:
        return str((await self.owner.channel(self.sid, "scratch"))["id"])

    async def message(self, author: Api | None = None) -> str:
        return str((await (author or self.owner).send(self.cid, "scratch message"))["id"])

    async def victim(self, users: Users) -> str:
        v = await users.new("victim")
        await self.owner.invite_and_join(self.sid, v)
        return v.id


Prep = Callable[[World, Api, Users], Awaitable[dict[str, Any]]]


async def _nothing(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {}


@attrs.frozen
class Row:
    """``kind``: none | auth | member | bit | owner | author; ``ok``: the success status;
    ``bit``: the permission for kind "bit"; ``prep`` returns path values plus optional
    ``json`` / ``query``; ``exp``: per-caller overrides of ``expected``."""

    kind: str
    ok: int
    bit: str | None = None
    prep: Prep = _nothing
    exp: dict[str, int | None] = attrs.Factory(dict)
    fresh: frozenset[str] = frozenset()

    def expected(self) -> dict[str, int | None]:
        ok = self.ok
        base: dict[str, int | None]
        if self.kind == "none":
            base = dict.fromkeys(CALLERS, ok)
        elif self.kind == "auth":
            base = {**dict.fromkeys(CALLERS, ok), "anonymous": 401}
        else:
            hidden = 404 if self.bit == "VIEW_CHANNEL" else 403
            without = {"member": ok, "bit": hidden, "owner": 403, "author": 403}[self.kind]
            with_ = {"owner": 403}.get(self.kind, ok)
            base = {"anonymous": 401, "non_member": 404, "without": without, "with": with_,
                    "owner": ok if self.kind != "author" else 403, "banned": 404}
        return {**base, **self.exp}


@attrs.frozen
class NA:
    """A route the six callers do not apply to; ``why`` says so."""

    why: str


def p(**values: Any) -> Prep:
    """A prep returning fixed values; a callable value is called as ``value(world)``."""
    async def prep(w: World, who: Api, users: Users) -> dict[str, Any]:
        return {k: (v(w) if callable(v) else v) for k, v in values.items()}
    return prep


def ch(w: World) -> str:
    return w.cid


def srv(w: World) -> str:
    return w.sid


def vc(w: World) -> str:
    return w.vid


def msg(w: World) -> str:
    return w.mid


async def fresh_channel(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {"channel_id": await w.channel(), "server_id": w.sid, "json": {"topic": "t"}}


async def fresh_role(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {"server_id": w.sid, "role_id": await w.role(), "json": {"name": "renamed"}}


async def member_role(w: World, who: Api, users: Users) -> dict[str, Any]:
    rid = await w.role()
    plain = w.people["plain"].id
    await w.ok(w.owner.put(f"/servers/{w.sid}/members/{plain}/roles/{rid}"))
    return {"server_id": w.sid, "user_id": plain, "role_id": rid}


async def victim(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {"server_id": w.sid, "user_id": await w.victim(users)}


async def victim_to_time_out(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {**await victim(w, who, users), "json": {"duration_minutes": 1}}


async def timed_out_victim(w: World, who: Api, users: Users) -> dict[str, Any]:
    uid = await w.victim(users)
    await w.ok(w.owner.post(f"/servers/{w.sid}/members/{uid}/timeout", json={"duration_minutes": 5}))
    return {"server_id": w.sid, "user_id": uid}


async def override(w: World, who: Api, users: Users) -> dict[str, Any]:
    body = {"role_id": await w.role(), "allow": 0, "deny": int(P.SEND_MESSAGES)}
    return {"channel_id": w.cid, "json": body}


async def existing_override(w: World, who: Api, users: Users) -> dict[str, Any]:
    o = await w.ok(w.owner.put(f"/channels/{w.cid}/overrides",
                               json={"role_id": await w.role(), "allow": 0, "deny": int(P.SEND_MESSAGES)}))
    return {"channel_id": w.cid, "override_id": o["id"]}


async def invite(w: World, who: Api, users: Users) -> dict[str, Any]:
    i = await w.ok(w.owner.post(f"/servers/{w.sid}/invites", json={}))
    return {"server_id": w.sid, "invite_id": i["id"], "code": i["code"]}


async def plain_message(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {"message_id": await w.message(w.people["plain"]), "json": {"content": "edited"}}


async def owner_message(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {"message_id": await w.message(), "channel_id": w.cid}


async def pinned(w: World, who: Api, users: Users) -> dict[str, Any]:
    mid = await w.message()
    await w.ok(w.owner.post(f"/channels/{w.cid}/messages/{mid}/pin"))
    return {"message_id": mid, "channel_id": w.cid}


async def a_webhook(w: World, who: Api, users: Users) -> dict[str, Any]:
    r = await w.owner.post(f"/servers/{w.sid}/webhooks", json={"name": "hook", "channel_id": w.cid})
    assert r.status_code == 201, r.text
    return {"server_id": w.sid, "webhook_id": r.json()["webhook"]["id"]}


async def a_webhook_patch(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {**await a_webhook(w, who, users), "json": {"name": "renamed"}}


async def new_word(w: World, who: Api, users: Users) -> dict[str, Any]:
    return {"server_id": w.sid, "json": {"word": f"word{id(who)}"}}


async def own_reaction(w: World, who: Api, users: Users) -> dict[str, Any]:
    await who.put(f"/channels/{w.cid}/messages/{w.mid}/reactions/{EMOJI}")  # may fail: then 404
    return {"channel_id": w.cid, "message_id": w.mid, "emoji": EMOJI}


async def others_reaction(w: World, who: Api, users: Users) -> dict[str, Any]:
    reactor = w.people["with_MUTE_MEMBERS"]
    await w.ok(reactor.put(f"/channels/{w.cid}/messages/{w.mid}/reactions/{EMOJI}"))
    return {"channel_id": w.cid, "message_id": w.mid, "emoji": EMOJI, "user_id": reactor.id}


_emoji_names = itertools.count()


async def fresh_emoji(w: World, who: Api, users: Users) -> dict[str, Any]:
    from test_emojis import png, upload

    r = await upload(w.owner, w.sid, f"matrix_{next(_emoji_names)}", png())
    assert r.status_code == 201, r.text
    return {"server_id": w.sid, "emoji_id": r.json()["id"]}


async def poll(w: World, who: Api, users: Users) -> dict[str, Any]:
    made = await w.ok(w.owner.post(f"/channels/{w.cid}/polls", json={"question": "q?", "options": ["a", "b"]}))
    return {"poll_id": made["poll"]["id"], "json": {"option_id": made["poll"]["options"][0]["id"]}}


S, C = "/servers/<server_id>", "/channels/<channel_id>"
CM = C + "/messages/<message_id>"
OWN = {"owner": 400}  # the owner cannot leave / target themselves
TABLE: dict[tuple[str, str], Row | NA] = {
    # -- no credentials needed (§2): every caller gets the same answer
    ("POST", "/auth/register"): Row("none", 400),
    ("POST", "/auth/login"): Row("none", 400),
    ("POST", "/auth/refresh"): Row("none", 400),
    ("POST", "/auth/logout"): Row("none", 400),
    ("GET", "/health"): Row("none", 200),
    ("GET", "/instance/registration-mode"): Row("none", 200),
    ("GET", "/instance/lan"): Row("none", 200),
    ("GET", "/instance/lan/qr.svg"): NA("no credential; answers 400 without ?text= (tested in test_lan_https)"),
    ("GET", "/docs"): Row("none", 200),
    ("GET", "/docs/openapi.yaml"): Row("none", 200),
    ("GET", "/docs/openapi.json"): Row("none", 200),
    # -- any authenticated caller; not scoped to a server
    ("GET", "/users/@me"): Row("auth", 200),
    ("PATCH", "/users/@me"): Row("auth", 200, prep=p(json={})),
    ("DELETE", "/users/@me"): Row("auth", 403, prep=p(json={"password": "wrong password"})),
    ("POST", "/users/@me/password"): Row(
        "auth", 403, prep=p(json={"current_password": "wrong password", "new_password": "another one"})),
    ("GET", "/users/<user_id>"): Row("auth", 200, prep=p(user_id=lambda w: w.owner.id)),
    ("GET", "/servers"): Row("auth", 200),
    ("POST", "/servers"): Row("auth", 201, prep=p(json={"name": "mine"})),
    ("GET", "/servers/browse"): Row("auth", 200),
    ("GET", "/server-templates"): Row("auth", 200),
    ("GET", "/ice-servers"): Row("auth", 200),
    ("GET", "/invites/<code>"): Row("auth", 200, prep=invite),
    ("POST", "/invites/<code>/accept"): Row(
        "auth", 409, prep=invite, exp={"non_member": 201, "banned": 403}, fresh=frozenset({"non_member"})),
    ("GET", "/bots"): Row("auth", 200, exp={}),
    ("POST", "/bots"): Row("auth", 400, prep=p(json={})),
    ("GET", "/bots/<bot_id>"): Row("auth", 404, prep=p(bot_id=NOBODY)),
    ("PATCH", "/bots/<bot_id>"): Row("auth", 404, prep=p(bot_id=NOBODY, json={})),
    ("DELETE", "/bots/<bot_id>"): Row("auth", 404, prep=p(bot_id=NOBODY)),
    ("GET", "/bots/<bot_id>/logs"): Row("auth", 404, prep=p(bot_id=NOBODY)),
    ("POST", "/bots/<bot_id>/token/regenerate"): Row("auth", 404, prep=p(bot_id=NOBODY)),
    ("POST", "/bots/connect"): Row("auth", 403),  # bots_only for every human
    ("GET", "/dm-channels"): Row("auth", 200),
    ("POST", "/dm-channels"): Row("auth", 404, prep=p(json={"user_id": NOBODY})),
    ("GET", "/dm-channels/<dm_id>/messages"): Row("auth", 404, prep=p(dm_id=NOBODY)),
    ("POST", "/dm-channels/<dm_id>/messages"): Row("auth", 404, prep=p(dm_id=NOBODY, json={"content": "x"})),
    ("DELETE", "/dm-channels/<dm_id>/messages/<message_id>"): Row(
        "auth", 404, prep=p(dm_id=NOBODY, message_id=NOBODY)),
    ("POST", "/dm-channels/<dm_id>/ack"): Row("auth", 404, prep=p(dm_id=NOBODY)),
    # -- servers (§3.3) and membership (§4.2)
    ("GET", S): Row("member", 200, prep=p(server_id=srv)),
    ("PATCH", S): Row("bit", 200, "MANAGE_SERVER", prep=p(server_id=srv, json={})),
    ("DELETE", S): Row("owner", 204, prep=p(server_id=srv), fresh=frozenset({"owner"})),
    ("GET", S + "/members"): Row("member", 200, prep=p(server_id=srv)),
    ("GET", S + "/emojis"): Row("member", 200, prep=p(server_id=srv)),
    ("GET", S + "/search"): Row("member", 200, prep=p(server_id=srv, query={"q": "hello"})),
    ("POST", S + "/join"): Row("member", 409, prep=p(server_id=srv)),  # not public: hidden from others
    ("DELETE", S + "/leave"): Row("member", 204, prep=p(server_id=srv), exp=OWN,
                                  fresh=frozenset({"without", "with"})),
    ("POST", S + "/members/<user_id>/kick"): Row("bit", 204, "KICK_MEMBERS", prep=victim),
    ("POST", S + "/members/<user_id>/ban"): Row("bit", 204, "BAN_MEMBERS", prep=victim),
    ("GET", S + "/bans"): Row("bit", 200, "BAN_MEMBERS", prep=p(server_id=srv)),
    ("DELETE", S + "/bans/<user_id>"): Row("bit", 204, "BAN_MEMBERS", prep=p(server_id=srv, user_id=NOBODY)),
    # -- issue 13: audit log, automod, webhooks, export
    ("GET", S + "/audit-logs"): Row("bit", 200, "VIEW_AUDIT_LOG", prep=p(server_id=srv)),
    ("GET", S + "/export"): Row("owner", 200, prep=p(server_id=srv)),
    ("GET", S + "/automod"): Row("bit", 200, "MANAGE_AUTOMOD", prep=p(server_id=srv)),
    ("PATCH", S + "/automod"): Row("bit", 200, "MANAGE_AUTOMOD", prep=p(server_id=srv, json={"enabled": False})),
    ("GET", S + "/automod/words"): Row("bit", 200, "MANAGE_AUTOMOD", prep=p(server_id=srv)),
    ("POST", S + "/automod/words"): Row("bit", 201, "MANAGE_AUTOMOD", prep=new_word),
    ("DELETE", S + "/automod/words/<word>"): Row("bit", 404, "MANAGE_AUTOMOD", prep=p(server_id=srv, word="nope")),
    ("GET", S + "/automod/logs"): Row("bit", 200, "MANAGE_AUTOMOD", prep=p(server_id=srv)),
    ("GET", S + "/webhooks"): Row("bit", 200, "MANAGE_WEBHOOKS", prep=p(server_id=srv)),
    ("POST", S + "/webhooks"): Row("bit", 201, "MANAGE_WEBHOOKS", prep=p(server_id=srv,
                                                                         json=lambda w: {"name": "hook", "channel_id": w.cid})),
    ("GET", S + "/webhooks/<webhook_id>"): Row("bit", 200, "MANAGE_WEBHOOKS", prep=a_webhook),
    ("PATCH", S + "/webhooks/<webhook_id>"): Row("bit", 200, "MANAGE_WEBHOOKS", prep=a_webhook_patch),
    ("DELETE", S + "/webhooks/<webhook_id>"): Row("bit", 204, "MANAGE_WEBHOOKS", prep=a_webhook),
    ("POST", S + "/webhooks/<webhook_id>/test"): Row("bit", 400, "MANAGE_WEBHOOKS", prep=a_webhook),  # incoming: 400
    ("GET", S + "/webhooks/<webhook_id>/deliveries"): Row("bit", 200, "MANAGE_WEBHOOKS", prep=a_webhook),
    ("POST", "/webhooks/<webhook_id>/<token>"): NA("no account: the token is the credential (tests/test_webhooks.py)"),
    **{(m, r): NA("instance admins only, not server permissions (tests/test_admin.py)") for m, r in (
        ("GET", "/admin/stats"), ("GET", "/admin/users"), ("PATCH", "/admin/users/<user_id>"),
        ("DELETE", "/admin/users/<user_id>"), ("GET", "/admin/servers"), ("DELETE", "/admin/servers/<server_id>"),
        ("GET", "/admin/settings"), ("PATCH", "/admin/settings"), ("GET", "/admin/audit-logs"))},
    ("POST", S + "/members/<user_id>/timeout"): Row("bit", 200, "MUTE_MEMBERS", prep=victim_to_time_out),
    ("DELETE", S + "/members/<user_id>/timeout"): Row("bit", 204, "MUTE_MEMBERS", prep=timed_out_victim),
    # -- invites (§4.3)
    ("POST", S + "/invites"): Row("bit", 201, "CREATE_INVITES", prep=p(server_id=srv, json={})),
    ("GET", S + "/invites"): Row("bit", 200, "CREATE_INVITES", prep=p(server_id=srv)),
    ("DELETE", S + "/invites/<invite_id>"): Row("bit", 204, "MANAGE_SERVER", prep=invite),
    # -- roles (§4.4)
    ("GET", S + "/roles"): Row("member", 200, prep=p(server_id=srv)),
    ("POST", S + "/roles"): Row("bit", 201, "MANAGE_ROLES", prep=p(server_id=srv, json={"name": "new"})),
    ("PATCH", S + "/roles/<role_id>"): Row("bit", 200, "MANAGE_ROLES", prep=fresh_role),
    ("DELETE", S + "/roles/<role_id>"): Row("bit", 204, "MANAGE_ROLES", prep=fresh_role),
    ("PUT", S + "/members/<user_id>/roles/<role_id>"): Row("bit", 204, "MANAGE_ROLES", prep=member_role),
    ("DELETE", S + "/members/<user_id>/roles/<role_id>"): Row("bit", 204, "MANAGE_ROLES", prep=member_role),
    # -- channels (§3.4)
    ("GET", S + "/channels"): Row("member", 200, prep=p(server_id=srv)),
    ("POST", S + "/channels"): Row("bit", 201, "MANAGE_CHANNELS",
                                   prep=p(server_id=srv, json={"name": "new", "type": "text"})),
    ("GET", S + "/channels/<channel_id>"): Row("bit", 200, "VIEW_CHANNEL", prep=p(server_id=srv, channel_id=ch)),
    ("GET", C): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch)),
    ("PATCH", C): Row("bit", 200, "MANAGE_CHANNELS", prep=fresh_channel),
    ("PATCH", S + "/channels/<channel_id>"): Row("bit", 200, "MANAGE_CHANNELS", prep=fresh_channel),
    ("DELETE", C): Row("bit", 204, "MANAGE_CHANNELS", prep=fresh_channel),
    ("DELETE", S + "/channels/<channel_id>"): Row("bit", 204, "MANAGE_CHANNELS", prep=fresh_channel),
    # -- overrides (§4.5)
    ("GET", C + "/overrides"): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch)),
    ("PUT", C + "/overrides"): Row("bit", 200, "MANAGE_CHANNELS", prep=override),
    ("DELETE", C + "/overrides/<override_id>"): Row("bit", 204, "MANAGE_CHANNELS", prep=existing_override),
    # -- messages (§3.5) and the empty attachments list (§4.13)
    ("GET", C + "/messages"): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch)),
    ("POST", C + "/messages"): Row("bit", 201, "SEND_MESSAGES", prep=p(channel_id=ch, json={"content": "hi"})),
    ("GET", CM): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch, message_id=msg)),
    ("PATCH", "/messages/<message_id>"): Row("author", 200, prep=plain_message),
    ("DELETE", "/messages/<message_id>"): Row("bit", 204, "MANAGE_MESSAGES", prep=owner_message),
    ("GET", "/messages/<message_id>/attachments"): Row("bit", 200, "VIEW_CHANNEL", prep=p(message_id=msg)),
    ("POST", "/messages/<message_id>/attachments"): NA(
        "multipart upload: author, ATTACH_FILES, outsider, DM outsider and bot cases in test_attachments.py"),
    ("GET", "/files/<attachment_id>/<filename>"): NA(
        "signed URL, no credentials: signature, expiry and tampering cases in test_attachments.py"),
    # -- reactions (§4.9), pins (§4.10), read state (§4.11)
    ("PUT", CM + "/reactions/<emoji>"): Row(
        "bit", 204, "ADD_REACTIONS", prep=p(channel_id=ch, message_id=msg, emoji=EMOJI)),
    ("DELETE", CM + "/reactions/<emoji>"): Row(
        "bit", 204, "VIEW_CHANNEL", prep=own_reaction),
    ("DELETE", CM + "/reactions/<emoji>/<user_id>"): Row("bit", 204, "MANAGE_MESSAGES", prep=others_reaction),
    ("GET", CM + "/reactions"): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch, message_id=msg)),
    ("GET", CM + "/reactions/<emoji>"): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch, message_id=msg, emoji=EMOJI)),
    ("POST", CM + "/pin"): Row("bit", 204, "MANAGE_MESSAGES", prep=owner_message),
    ("DELETE", CM + "/pin"): Row("bit", 204, "MANAGE_MESSAGES", prep=pinned),
    ("GET", C + "/pinned-messages"): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch)),
    ("POST", C + "/ack"): Row("bit", 204, "VIEW_CHANNEL", prep=p(channel_id=ch)),
    # -- voice (§4.6): nobody here has a gateway session (400 no_gateway_session comes after 403)
    ("POST", C + "/voice"): Row("bit", 400, "CONNECT_VOICE", prep=p(channel_id=vc)),
    ("GET", C + "/voice"): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=vc)),
    ("PATCH", C + "/voice"): Row("member", 404, prep=p(channel_id=vc, json={"self_mute": True})),  # not_in_voice
    ("DELETE", C + "/voice"): Row("member", 404, prep=p(channel_id=vc)),  # not_in_voice
    # -- issue 12: threads, polls, events, go-live, link previews, GIF search
    ("GET", CM + "/thread"): Row("bit", 200, "VIEW_CHANNEL", prep=p(channel_id=ch, message_id=msg)),
    ("POST", CM + "/thread"): Row("bit", 201, "SEND_MESSAGES", prep=p(channel_id=ch, message_id=msg,
                                                                       json={"content": "in the thread"})),
    ("POST", C + "/polls"): Row("bit", 201, "SEND_MESSAGES", prep=p(channel_id=ch, json={
        "question": "q?", "options": ["a", "b"]})),
    ("GET", "/polls/<poll_id>"): Row("bit", 200, "VIEW_CHANNEL", prep=poll),
    ("POST", "/polls/<poll_id>/vote"): Row("bit", 200, "VIEW_CHANNEL", prep=poll),
    ("POST", C + "/events"): Row("bit", 201, "SEND_MESSAGES", prep=p(channel_id=ch, json={
        "name": "Game night", "starts_at": "2099-01-01T20:00:00Z"})),
    ("GET", S + "/events"): Row("member", 200, prep=p(server_id=srv)),
    # nobody here is in voice: starting is 404 not_in_voice, looking and stopping 404 not_live
    ("POST", C + "/go-live"): Row("member", 404, prep=p(channel_id=vc)),
    ("GET", C + "/go-live"): Row("member", 404, prep=p(channel_id=vc)),
    ("DELETE", C + "/go-live"): Row("member", 404, prep=p(channel_id=vc)),
    ("GET", "/link-preview"): Row("auth", 400),  # no url: validation_failed
    ("GET", "/giphy/search"): Row("auth", 404),  # no [giphy] api_key: feature_disabled
    # the permission is checked before the body: with the bit, an empty body is 400 (not multipart)
    ("POST", S + "/emojis"): Row("bit", 400, "MANAGE_EMOJIS", prep=p(server_id=srv)),
    ("DELETE", S + "/emojis/<emoji_id>"): Row("bit", 204, "MANAGE_EMOJIS", prep=fresh_emoji),
    ("GET", "/emojis/<emoji_id>"): Row("none", 200, prep=fresh_emoji),  # public by id
    # -- the gateway
    ("GET", "/ws"): NA("WebSocket gateway: credentials are checked in the handshake (§6.1), by its own tests"),
    # -- the bundled web client's static files (issue 11): no credentials by design
    ("GET", "/"): NA("web client HTML shell, public like any web page (tests/test_web_static.py)"),
    ("GET", "/app/<name>"): NA("web client files, public like any web page (tests/test_web_static.py)"),
}


_CONVERTER = re.compile(r"<[^:<>]+:([^<>]+)>")


def served_routes(running: Running) -> set[tuple[str, str]]:
    """(METHOD, rule) for every rule of the app's URL map, converters dropped
    (``<path:emoji>`` -> ``<emoji>``); HEAD/OPTIONS are implied by GET (§1.1)."""
    app = create_app(running.state)
    return {(m, _CONVERTER.sub(r"<\1>", rule.rule)) for rule in app.url_map.iter_rules()
            for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}


def test_every_route_has_a_row(shared: Running) -> None:
    served = served_routes(shared)
    missing = sorted(served - TABLE.keys(), key=lambda k: (k[1], k[0]))
    lines = [f"    ({m!r}, {r!r}): Row(kind, ok_status, bit, prep=...),  # or NA('why')" for m, r in missing]
    assert not missing, (
        "routes with no row in TABLE of tests/test_authz_matrix.py; add:\n" + "\n".join(lines))
    # Rows for routes not (yet) served are skipped, not failed: feature modules land in
    # any order, so a row may be written before its route exists.


_PLACEHOLDER = re.compile(r"<([^<>]+)>")


def _path(rule: str, values: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), rule)


async def _people(users: Users) -> dict[str, Api]:
    names = ["owner", "plain", "outsider", "banned", *DENIED_PERSONA.values(), *(f"with_{b}" for b in SERVER_BITS)]
    return {n: await users.new(n.replace("_", "")[:12]) for n in names}


async def test_authorization_matrix(users: Users, shared: Running) -> None:
    people = await _people(users)
    world = await World(people).build()
    anonymous = users.anonymous()
    served = served_routes(shared)
    failures: list[str] = []
    for key in sorted(TABLE, key=lambda k: (k[1], k[0])):
        row = TABLE[key]
        if isinstance(row, NA) or key not in served:
            continue
        method, rule = key
        for caller, want in row.expected().items():
            if want is None:
                continue
            w = await World(people).build() if caller in row.fresh else world
            who = {"anonymous": anonymous, "non_member": people["outsider"], "owner": people["owner"],
                   "banned": people["banned"]}.get(caller)
            if who is None:
                if row.kind == "author":
                    who = people["plain"] if caller == "with" else people["with_MANAGE_MESSAGES"]
                elif row.kind in ("member", "owner") or row.bit is None:
                    who = people["plain"] if caller == "without" else people["with_ADMINISTRATOR"]
                elif row.bit in DENIED_PERSONA:
                    who = people[DENIED_PERSONA[row.bit]] if caller == "without" else people["plain"]
                else:
                    who = people["plain"] if caller == "without" else people[f"with_{row.bit}"]
            values = {"server_id": w.sid, "channel_id": w.cid, **await row.prep(w, who, users)}
            kw: dict[str, Any] = {}
            if "json" in values:
                kw["json"] = values.pop("json")
            if "query" in values:
                kw["params"] = values.pop("query")
            r = await who.request(method, _path(rule, values), **kw)
            if r.status_code != want:
                failures.append(f"{method} {rule} as {caller}: expected {want}, got {r.status_code} {r.text[:160]}")
    assert not failures, f"{len(failures)} cells differ:\n" + "\n".join(failures)
