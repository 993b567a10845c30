"""Config structuring: every key of API.md §9, strict types, errors that name the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs
import pytest

from together_server.config import Config, ConfigError, structure_config

EXAMPLE = Path(__file__).resolve().parents[1] / "together_server" / "together.toml.example"


@pytest.mark.parametrize(("data", "message"), [
    ({"server": {"allowed_origins": "*"}}, "server.allowed_origins: must be a list of strings"),
    ({"ice": {"stun_urls": "stun:x"}}, "ice.stun_urls: must be a list of strings"),
    ({"server": {"trusted_proxies": ["10.0.0.1/8"]}}, "server.trusted_proxies[0]"),
    ({"server": {"port": "8080"}}, "server.port: must be an integer"),
    ({"server": {"port": 70000}}, "server.port: must be ≤ 65535"),
    ({"ratelimit": {"ip": {"capacity": 0}}}, "ratelimit.ip.capacity: must be ≥ 1"),
    ({"ratelimit": {"ip": {"capacity": 3, "burst": 1}}}, "ratelimit.ip.burst: unknown key"),
    ({"auth": {"registration": "sometimes"}}, 'auth.registration: must be one of "open", "invite_only", "closed"'),
    ({"auth": {"jwt_secret": "short"}}, "auth.jwt_secret: must be at least 32 characters"),
    ({"limits": {"pins_per_channel": 0}}, "limits.pins_per_channel: must be ≥ 1"),
    ({"bogus": {}}, "bogus: unknown key"),
])
def test_bad_values_name_their_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        structure_config(data)
    assert message in str(info.value)


def test_partial_bucket_keeps_its_other_default() -> None:
    cfg = structure_config({"ratelimit": {"auth": {"capacity": 9}}})
    assert (cfg.ratelimit.auth.capacity, cfg.ratelimit.auth.refill_per_second) == (9, 2.0)
    assert cfg.gateway.idle_timeout == 75.0


def test_example_lists_every_key_with_its_default() -> None:
    """together.toml.example: uncommenting every key gives exactly the defaults."""
    lines = [re.sub(r"^# ([a-z_]+ = )", r"\1", line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()]
    data = tomllib.loads("\n".join(
        line for line in lines
        if not line.startswith(("jwt_secret", "turn_secret", "idle_timeout_seconds"))
    ))
    assert structure_config(data) == structure_config({})
    text = EXAMPLE.read_text(encoding="utf-8")
    for section in attrs.fields(Config):
        if section.name == "base_dir":  # internal, not a setting
            continue
        assert f"[{section.name}]" in text
        for field in attrs.fields(section.type):  # type: ignore[arg-type]
            assert f"{field.name} =" in text, f"{section.name}.{field.name} missing from the example"
