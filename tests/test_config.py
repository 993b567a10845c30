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
    ({"server": {"port": 70000}}, "server.port: must be between 0 and 65535"),
    ({"ratelimit": {"ip": {"capacity": 0}}}, "ratelimit.ip.capacity: must be between 1 and 1e+09"),
    ({"ratelimit": {"ip": {"capacity": 3, "burst": 1}}}, "ratelimit.ip.burst: unknown key"),
    ({"auth": {"registration": "sometimes"}}, 'auth.registration: must be one of "open", "invite_only", "closed"'),
    ({"auth": {"jwt_secret": "short"}}, "auth.jwt_secret: must be at least 32 characters"),
    ({"limits": {"pins_per_channel": 0}}, "limits.pins_per_channel: must be between 1 and 10000"),
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
        if not line.startswith(("jwt_secret", "turn_secret", "idle_timeout_seconds", "tls_cert", "tls_key", "api_key"))
    ))
    assert structure_config(data) == structure_config({})
    text = EXAMPLE.read_text(encoding="utf-8")
    for section in attrs.fields(Config):
        if section.name == "base_dir":  # internal, not a setting
            continue
        assert f"[{section.name}]" in text
        for field in attrs.fields(section.type):  # type: ignore[arg-type]
            assert f"{field.name} =" in text, f"{section.name}.{field.name} missing from the example"


# -- issue 15 §6: values that passed validation and crashed later ------------------------

@pytest.mark.parametrize(("toml", "message"), [
    ("[server]\nshutdown_grace_seconds = nan", "server.shutdown_grace_seconds: must be a finite number"),
    ("[gateway]\nidle_timeout_seconds = nan", "gateway.idle_timeout_seconds: must be a finite number"),
    ("[gateway]\nresume_window_seconds = inf", "gateway.resume_window_seconds: must be a finite number"),
    ("[ratelimit.ip]\nrefill_per_second = -inf", "ratelimit.ip.refill_per_second: must be a finite number"),
    ("[gateway]\nheartbeat_interval_ms = 99999999999999999",
     "gateway.heartbeat_interval_ms: must be between 100 and 600000"),
    ("[gateway]\nheartbeat_interval_ms = nan", "gateway.heartbeat_interval_ms: must be an integer"),
    ("[server]\nshutdown_grace_seconds = 1e300", "server.shutdown_grace_seconds: must be between 0 and 3600"),
    ("[auth]\naccess_token_ttl_seconds = 99999999999", "auth.access_token_ttl_seconds: must be between 1 and 86400"),
    ("server = 5", "server: must be a [server] section, not an integer"),
    ('gateway = "fast"', "gateway: must be a [gateway] section, not a string"),
    ("[ratelimit]\nip = 5", "ratelimit.ip: must be a table { capacity, refill_per_second }, not an integer"),
    ('[ice]\nturn_urls = ["turn:t.example.org:3478"]',
     "ice.turn_urls: needs ice.turn_secret"),
    ('[ice]\nstun_urls = ["http://stun.example.org"]', "ice.stun_urls[0]: must be a stun:… or stuns:… URL"),
    ('[ice]\nturn_urls = ["stun:x"]\nturn_secret = "' + "s" * 32 + '"', "ice.turn_urls[0]: must be a turn:…"),
    ("[auth]\naccess_token_ttl_seconds = 3600\nrefresh_token_ttl_seconds = 600",
     "auth.refresh_token_ttl_seconds: must be at least auth.access_token_ttl_seconds (3600)"),
    ("[gateway]\nheartbeat_interval_ms = 30000\nidle_timeout_seconds = 20.0",
     "gateway.idle_timeout_seconds: must be longer than gateway.heartbeat_interval_ms (30000 ms)"),
])
def test_values_that_crashed_later_are_refused(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        structure_config(tomllib.loads(toml))
    assert message in str(info.value)


def _numbers(cls: type, prefix: str = "") -> list[tuple[str, attrs.Attribute]]:  # type: ignore[type-arg]
    found = []
    for field in attrs.fields(cls):
        if attrs.has(field.type):
            found += _numbers(field.type, f"{prefix}{field.name}.")  # type: ignore[arg-type]
        elif field.type in (int, float, "int", "float", int | None, float | None, "float | None", "int | None"):
            found.append((prefix + field.name, field))
    return found


def test_every_number_has_a_range() -> None:
    """A sane range for every number (issue 15 §6): both bounds, default inside them."""
    numbers = _numbers(Config)
    assert len(numbers) > 20
    for key, field in numbers:
        bounds = field.metadata.get("range")
        assert bounds is not None and None not in bounds, f"{key} has no range"
        lo, hi = bounds
        if field.default is not None and not isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            if field.default is not attrs.NOTHING:
                assert lo <= field.default <= hi, key


def test_cli_refuses_nan_in_one_line(tmp_path: Path) -> None:
    """The whole way through: `serve` with a nan setting exits 1 with one line naming the key."""
    import subprocess
    import sys

    conf = tmp_path / "t.toml"
    conf.write_text("[server]\nshutdown_grace_seconds = nan\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "together_server", "serve", "--config", str(conf), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "together-server: configuration error: server.shutdown_grace_seconds: must be a finite number (not nan or inf)"
    ]
@pytest.mark.parametrize(("data", "message"), [
    ({"server": {"keep_alive_timeout_seconds": float("nan")}}, "server.keep_alive_timeout_seconds: must be a finite number"),
    ({"server": {"keep_alive_timeout_seconds": 0}}, "server.keep_alive_timeout_seconds: must be between 0.1 and 3600"),
    ({"server": {"body_timeout_seconds": float("inf")}}, "server.body_timeout_seconds: must be a finite number"),
    ({"server": {"body_timeout_seconds": 7200}}, "server.body_timeout_seconds: must be between 0.1 and 3600"),
    ({"server": {"body_min_bytes_per_second": -1}}, "server.body_min_bytes_per_second: must be between 0 and 1e+09"),
    ({"server": {"body_min_bytes_per_second": 1.5}}, "server.body_min_bytes_per_second: must be an integer"),
    ({"server": {"max_connections_per_ip": -1}}, "server.max_connections_per_ip: must be between 0 and 1e+06"),
    ({"server": {"max_connections_per_ip": "many"}}, "server.max_connections_per_ip: must be an integer"),
])
def test_connection_keys_are_checked(data: dict, message: str) -> None:
    """The issue-15 connection keys: ranges, integers, no NaN or infinity."""
    with pytest.raises(ConfigError) as info:
        structure_config(data)
    assert message in str(info.value)


def test_connection_keys_reach_hypercorn(tmp_path: Path) -> None:
    import trio

    from together_server.daemon import _hypercorn_config

    cfg = structure_config({"server": {"keep_alive_timeout_seconds": 7.5, "body_timeout_seconds": 12,
                                       "body_min_bytes_per_second": 0}})
    hc = _hypercorn_config(cfg, trio.Event())
    assert (hc.keep_alive_timeout, hc.together_body_timeout, hc.together_body_min_rate) == (7.5, 12.0, 0.0)
