"""The route list of API.md, kept by hand as the reference for drift tests.

``EXPECTED_ROUTES`` is every (METHOD, path) pair that /work/shared/API.md defines, with each
path parameter written as ``{}``: ``("GET", "/servers/{}/channels/{}")``. HEAD and OPTIONS
are not listed: HEAD is answered on every GET route and OPTIONS is a CORS preflight or a 405
(API.md §1.1), neither is an operation of its own. ``GET /bots/connect`` is not a route:
API.md §1.1 names it only as an example of a wrong method.

Two tests compare against it: tests/test_openapi_document.py (the served OpenAPI document)
and the route-table drift test (the app's URL map). Use :func:`normalise_path` to bring an
OpenAPI path (``{server_id}``), a Quart/Werkzeug rule (``<server_id>``, ``<path:emoji>``) or
an API.md path (``:server_id``) to this form.

When API.md gains or loses a route, change this list first; both tests then say what else
has to follow.
"""

from __future__ import annotations

import re

__all__ = ["EXPECTED_ROUTES", "ROUTES_BY_SECTION", "NO_AUTH_ROUTES", "normalise_path"]

#: Routes grouped by the API.md section that defines them, in the order of that file.
ROUTES_BY_SECTION: dict[str, tuple[tuple[str, str], ...]] = {
    "2.4 registration mode": (
        ("GET", "/instance/registration-mode"),
    ),
    "3.1 auth": (
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/logout"),
    ),
    "3.2 users": (
        ("GET", "/users/@me"),
        ("PATCH", "/users/@me"),
        ("GET", "/users/{}"),
        ("POST", "/users/@me/password"),
        ("DELETE", "/users/@me"),
    ),
    "3.3 servers": (
        ("GET", "/servers"),
        ("POST", "/servers"),
        ("GET", "/servers/{}"),
        ("PATCH", "/servers/{}"),
        ("DELETE", "/servers/{}"),
    ),
    "3.4 channels": (
        ("GET", "/servers/{}/channels"),
        ("POST", "/servers/{}/channels"),
        ("GET", "/servers/{}/channels/{}"),
        ("GET", "/channels/{}"),
        ("PATCH", "/channels/{}"),
        ("PATCH", "/servers/{}/channels/{}"),
        ("DELETE", "/channels/{}"),
        ("DELETE", "/servers/{}/channels/{}"),
    ),
    "3.5 messages": (
        ("GET", "/channels/{}/messages"),
        ("POST", "/channels/{}/messages"),
        ("GET", "/channels/{}/messages/{}"),
        ("PATCH", "/messages/{}"),
        ("DELETE", "/messages/{}"),
    ),
    "3.6 / 7 search": (
        ("GET", "/servers/{}/search"),
    ),
    "3.7 ice servers": (
        ("GET", "/ice-servers"),
    ),
    "3.8 openapi document": (
        ("GET", "/docs/openapi.yaml"),
        ("GET", "/docs/openapi.json"),
        ("GET", "/docs"),
    ),
    "4.2 membership and moderation": (
        ("GET", "/servers/browse"),
        ("POST", "/servers/{}/join"),
        ("DELETE", "/servers/{}/leave"),
        ("GET", "/servers/{}/members"),
        ("POST", "/servers/{}/members/{}/kick"),
        ("POST", "/servers/{}/members/{}/ban"),
        ("GET", "/servers/{}/bans"),
        ("DELETE", "/servers/{}/bans/{}"),
        ("POST", "/servers/{}/members/{}/timeout"),
        ("DELETE", "/servers/{}/members/{}/timeout"),
    ),
    "4.3 invites": (
        ("POST", "/servers/{}/invites"),
        ("GET", "/servers/{}/invites"),
        ("DELETE", "/servers/{}/invites/{}"),
        ("GET", "/invites/{}"),
        ("POST", "/invites/{}/accept"),
    ),
    "4.4 roles": (
        ("GET", "/servers/{}/roles"),
        ("POST", "/servers/{}/roles"),
        ("PATCH", "/servers/{}/roles/{}"),
        ("DELETE", "/servers/{}/roles/{}"),
        ("PUT", "/servers/{}/members/{}/roles/{}"),
        ("DELETE", "/servers/{}/members/{}/roles/{}"),
    ),
    "4.5 channel overrides": (
        ("GET", "/channels/{}/overrides"),
        ("PUT", "/channels/{}/overrides"),
        ("DELETE", "/channels/{}/overrides/{}"),
    ),
    "4.6 voice": (
        ("POST", "/channels/{}/voice"),
        ("PATCH", "/channels/{}/voice"),
        ("DELETE", "/channels/{}/voice"),
        ("GET", "/channels/{}/voice"),
    ),
    "4.7 bots": (
        ("POST", "/bots"),
        ("GET", "/bots"),
        ("GET", "/bots/{}"),
        ("PATCH", "/bots/{}"),
        ("DELETE", "/bots/{}"),
        ("POST", "/bots/{}/token/regenerate"),
        ("GET", "/bots/{}/logs"),
        ("POST", "/bots/connect"),
    ),
    "4.8 direct messages": (
        ("POST", "/dm-channels"),
        ("GET", "/dm-channels"),
        ("GET", "/dm-channels/{}/messages"),
        ("POST", "/dm-channels/{}/messages"),
        ("DELETE", "/dm-channels/{}/messages/{}"),
    ),
    "4.9 reactions": (
        ("PUT", "/channels/{}/messages/{}/reactions/{}"),
        ("DELETE", "/channels/{}/messages/{}/reactions/{}"),
        ("DELETE", "/channels/{}/messages/{}/reactions/{}/{}"),
        ("GET", "/channels/{}/messages/{}/reactions"),
        ("GET", "/channels/{}/messages/{}/reactions/{}"),  # extension: who reacted (issue 11)
    ),
    "4.10 pins": (
        ("POST", "/channels/{}/messages/{}/pin"),
        ("DELETE", "/channels/{}/messages/{}/pin"),
        ("GET", "/channels/{}/pinned-messages"),
    ),
    "4.11 read state": (
        ("POST", "/channels/{}/ack"),
        ("POST", "/dm-channels/{}/ack"),
    ),
    "4.12 health": (
        ("GET", "/health"),
    ),
    "4.13 empty collections": (
        ("GET", "/server-templates"),
        ("GET", "/servers/{}/emojis"),
    ),
    "issue 10 attachments": (
        ("GET", "/messages/{}/attachments"),
        ("POST", "/messages/{}/attachments"),
        ("GET", "/files/{}/{}"),
    ),
    "issue 12 community": (
        ("GET", "/channels/{}/messages/{}/thread"),
        ("POST", "/channels/{}/messages/{}/thread"),
        ("POST", "/channels/{}/polls"),
        ("GET", "/polls/{}"),
        ("POST", "/polls/{}/vote"),
        ("POST", "/channels/{}/events"),
        ("GET", "/servers/{}/events"),
        ("POST", "/channels/{}/go-live"),
        ("GET", "/channels/{}/go-live"),
        ("DELETE", "/channels/{}/go-live"),
        ("GET", "/link-preview"),
        ("GET", "/giphy/search"),
        ("POST", "/servers/{}/emojis"),
        ("DELETE", "/servers/{}/emojis/{}"),
        ("GET", "/emojis/{}"),
    ),
    "6.1 gateway": (
        ("GET", "/ws"),
    ),
    "issue 13 audit log": (
        ("GET", "/servers/{}/audit-logs"),
    ),
    "issue 13 automod": (
        ("GET", "/servers/{}/automod"),
        ("PATCH", "/servers/{}/automod"),
        ("GET", "/servers/{}/automod/words"),
        ("POST", "/servers/{}/automod/words"),
        ("DELETE", "/servers/{}/automod/words/{}"),
        ("GET", "/servers/{}/automod/logs"),
    ),
    "issue 14 LAN": (
        ("GET", "/instance/lan"),
        ("GET", "/instance/lan/qr.svg"),
    ),
    "issue 13 webhooks": (
        ("GET", "/servers/{}/webhooks"),
        ("POST", "/servers/{}/webhooks"),
        ("GET", "/servers/{}/webhooks/{}"),
        ("PATCH", "/servers/{}/webhooks/{}"),
        ("DELETE", "/servers/{}/webhooks/{}"),
        ("POST", "/servers/{}/webhooks/{}/test"),
        ("GET", "/servers/{}/webhooks/{}/deliveries"),
        ("POST", "/webhooks/{}/{}"),
    ),
    "issue 13 export": (
        ("GET", "/servers/{}/export"),
    ),
    "issue 13 admin area": (
        ("GET", "/admin/stats"),
        ("GET", "/admin/users"),
        ("PATCH", "/admin/users/{}"),
        ("DELETE", "/admin/users/{}"),
        ("GET", "/admin/servers"),
        ("DELETE", "/admin/servers/{}"),
        ("GET", "/admin/settings"),
        ("PATCH", "/admin/settings"),
        ("GET", "/admin/audit-logs"),
    ),
}

#: Every route of API.md plus the routes of later issues (issue 10: attachments; issue 13: audit
#: log, automod, webhooks, export, admin area).
EXPECTED_ROUTES: frozenset[tuple[str, str]] = frozenset(
    route for routes in ROUTES_BY_SECTION.values() for route in routes
)

#: The routes that need no credential (API.md §2.1), the OpenAPI document itself included.
NO_AUTH_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/logout"),
        ("GET", "/instance/registration-mode"),
        ("GET", "/instance/lan"),
        ("GET", "/instance/lan/qr.svg"),
        ("GET", "/health"),
        ("POST", "/webhooks/{}/{}"),
        ("GET", "/docs"),
        ("GET", "/docs/openapi.yaml"),
        ("GET", "/docs/openapi.json"),
        ("GET", "/files/{}/{}"),
        ("GET", "/emojis/{}"),  # a custom emoji image, public by id (issue 12)
    }
)

# One parameter segment in any of the three spellings: {name}, <conv:name> / <name>, :name.
_PARAM = re.compile(r"\{[^}/]*\}|<[^>/]*>|:[A-Za-z_][A-Za-z0-9_]*")


def normalise_path(path: str) -> str:
    """Return ``path`` with every parameter segment written as ``{}``.

    ``"/servers/{server_id}/channels/<channel_id>"`` → ``"/servers/{}/channels/{}"``;
    ``"/channels/:id/messages/<path:emoji>"`` → ``"/channels/{}/messages/{}"``. Literal
    segments such as ``@me``, ``browse`` or ``connect`` are left alone.
    """
    return _PARAM.sub("{}", path)
