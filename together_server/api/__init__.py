"""HTTP API: one blueprint per resource (DESIGN.md "Shape of the code")."""

from __future__ import annotations

import importlib

from quart import Quart

# Each module defines ``bp``; registration order does not matter (rules are matched by
# specificity, literals before ids).
MODULES = [
    "auth", "users", "servers", "members", "invites", "channels", "messages", "meta",
]
OPTIONAL = ["roles", "overrides", "moderation", "search", "bots", "ice", "docs", "dms",
            "reactions", "pins", "readstate", "voice", "gateway_route"]


def register_blueprints(app: Quart) -> None:
    """Register the ``bp`` of every module in MODULES, then of each OPTIONAL module that exists (a missing one is skipped)."""
    for name in MODULES:
        app.register_blueprint(importlib.import_module(f".{name}", __name__).bp)
    for name in OPTIONAL:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        app.register_blueprint(module.bp)
