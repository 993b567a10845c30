"""HTTP API: one blueprint per resource (DESIGN.md "Shape of the code").

``register_blueprints`` is the one list of what the daemon serves; registration order does
not matter (rules are matched by specificity, literals before ids).
"""

from __future__ import annotations

from quart import Quart

from . import (
    admin,
    attachments,
    audit,
    auth,
    automod,
    bots,
    channels,
    dms,
    docs,
    emojis,
    events,
    export,
    files,
    gateway_route,
    gifs,
    golive,
    ice,
    invites,
    lan,
    members,
    messages,
    meta,
    moderation,
    overrides,
    pins,
    polls,
    previews,
    reactions,
    readstate,
    roles,
    search,
    servers,
    threads,
    users,
    voice,
    web,
    webhooks,
)

BLUEPRINT_MODULES = (
    auth, users, servers, members, invites, channels, messages, meta, roles, overrides, moderation,
    search, bots, ice, docs, dms, reactions, pins, readstate, voice, gateway_route,
    admin, audit, automod, export, lan, webhooks, attachments, files,
    threads, polls, events, golive, previews, gifs, emojis,
    web,
)


def register_blueprints(app: Quart) -> None:
    """Register the ``bp`` of every module in ``BLUEPRINT_MODULES`` on ``app``."""
    for module in BLUEPRINT_MODULES:
        app.register_blueprint(module.bp)
