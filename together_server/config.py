"""Configuration: one TOML file structured into frozen attrs classes (API.md §9).

``load_config(path)`` reads the file (or nothing: every key has a default, so
``together-server serve`` works without one), structures it strictly with cattrs
(unknown keys and wrong types are errors) and validates ranges. Every problem is raised
as :class:`ConfigError` whose message names the key, e.g.
``ratelimit.ip.capacity: must be ≥ 1``.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from .netaddr import parse_trusted  # a leaf: one rule for what a trusted proxy entry is


class ConfigError(Exception):
    """A refused configuration; the message names the key (the start exits with status 1)."""


DAY = 86_400  # seconds


def _range(lo: float, hi: float) -> Any:
    """A field's inclusive bounds, checked after structuring so the error can name the full
    key. Every number has both bounds (issue 15 §6; tests/test_config.py checks that)."""
    return {"range": (lo, hi)}


@attrs.frozen
class ServerConfig:
    """`[server]`: listen address/port (0 = any free port), data_dir (relative to the config file's
    folder or the cwd), trusted proxy IPs/CIDRs, CORS origins, max_body_bytes (bytes; larger bodies
    get 413) and shutdown_grace_seconds (seconds). API.md §9. `lan` (LAN party mode: all interfaces,
    HTTPS with our own CA, mDNS) and `tls_cert`/`tls_key` (PEM files of the operator's own
    certificate; HTTPS with them, LAN mode or not) are issue 14.
    Connections (issue 15): keep_alive_timeout_seconds (an idle keep-alive connection closes),
    body_timeout_seconds + body_min_bytes_per_second (a body must arrive within the timeout plus 1 s
    per that many bytes received, else 408; 0 = no extension) and max_connections_per_ip (open
    connections per client address, IPv6 per /64; 0 = no cap; loopback and trusted proxies exempt).
    """
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8080, metadata=_range(0, 65535))
    data_dir: str = "./together-data"
    trusted_proxies: list[str] = attrs.field(factory=list)
    allowed_origins: list[str] = attrs.field(factory=list)
    max_body_bytes: int = attrs.field(default=1_048_576, metadata=_range(1, 1 << 30))
    shutdown_grace_seconds: float = attrs.field(default=10.0, metadata=_range(0, 3600))
    lan: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    # connections (issue 15 part 3; serving.py, connections.py)
    keep_alive_timeout_seconds: float = attrs.field(default=20.0, metadata=_range(0.1, 3600))
    body_timeout_seconds: float = attrs.field(default=30.0, metadata=_range(0.1, 3600))
    body_min_bytes_per_second: int = attrs.field(default=500, metadata=_range(0, 1_000_000_000))
    max_connections_per_ip: int = attrs.field(default=256, metadata=_range(0, 1_000_000))


@attrs.frozen
class DatabaseConfig:
    """`[database]`: SQLite `synchronous` mode in WAL (`normal` or `full`) and reader_connections
    (1–64 reader threads, our addition). API.md §9. Our additions (issue 15): busy_timeout_ms
    (ms a write waits for an outside lock before 503 `database_busy`), journal_size_limit_bytes
    (bytes the WAL is cut back to once checkpointed), checkpoint_interval_seconds (the
    background checkpoint), quick_check_at_start and quick_check_max_seconds (the integrity
    check before listening; a huge file may turn it off or let it stop early).
    """
    synchronous: Literal["normal", "full"] = "normal"
    reader_connections: int = attrs.field(default=4, metadata=_range(1, 64))
    busy_timeout_ms: int = attrs.field(default=10_000, metadata=_range(0, 600_000))
    journal_size_limit_bytes: int = attrs.field(default=4_194_304, metadata=_range(0, 1 << 30))
    checkpoint_interval_seconds: float = attrs.field(default=5.0, metadata=_range(0.05, 3600))
    quick_check_at_start: bool = True
    quick_check_max_seconds: float = attrs.field(default=30.0, metadata=_range(0.1, 86_400))


@attrs.frozen
class AuthConfig:
    """`[auth]`: registration mode (§2.4), jwt_secret (≥ 32 chars; unset: generated into the data dir),
    access/refresh token lifetimes in seconds, and the argon2id cost (memory in KiB, iterations,
    lanes; our addition). API.md §9.
    """
    registration: Literal["open", "invite_only", "closed"] = "open"
    jwt_secret: str | None = None
    access_token_ttl_seconds: int = attrs.field(default=900, metadata=_range(1, DAY))
    refresh_token_ttl_seconds: int = attrs.field(default=604_800, metadata=_range(1, 366 * DAY))
    # argon2id cost (our addition): OWASP's first choice is m=19 MiB, t=2, p=1.
    # Tests lower it to keep the suite fast; never lower it in production.
    argon2_memory_kib: int = attrs.field(default=19_456, metadata=_range(8, 4 * 1024 * 1024))
    argon2_time_cost: int = attrs.field(default=2, metadata=_range(1, 100))
    argon2_parallelism: int = attrs.field(default=1, metadata=_range(1, 64))

    def __repr__(self) -> str:  # never print the secret
        return f"AuthConfig(registration={self.registration!r}, jwt_secret=<hidden>)"


@attrs.frozen
class Bucket:
    """One token bucket: capacity (tokens, ≥ 1) and refill_per_second (tokens per second). API.md §5."""
    capacity: int = attrs.field(metadata=_range(1, 1_000_000_000))
    refill_per_second: float = attrs.field(metadata=_range(0.001, 1_000_000))


@attrs.frozen
class RateLimitConfig:
    """`[ratelimit]`: `enabled` plus the auth, user, ip and bot token buckets (API.md §5, §9)."""
    enabled: bool = True
    auth: Bucket = Bucket(5, 2.0)
    user: Bucket = Bucket(600, 100.0)
    ip: Bucket = Bucket(20, 10.0)
    bot: Bucket = Bucket(50, 50.0)


@attrs.frozen
class GatewayConfig:
    """`[gateway]`: heartbeat_interval_ms (ms), idle_timeout_seconds (seconds; None = derived, see
    `idle_timeout`), max_frame_bytes (bytes), max_frames_per_second, outgoing_queue_size (events),
    resume_window_seconds (seconds), resume_buffer_events (events), presence_window_ms (ms over
    which connect/disconnect presence is coalesced, 0-10000). API.md §6.5, §6.8, §9; issue 15.
    """
    heartbeat_interval_ms: int = attrs.field(default=30_000, metadata=_range(100, 600_000))
    idle_timeout_seconds: float | None = attrs.field(default=None, metadata=_range(0.1, 3600))
    max_frame_bytes: int = attrs.field(default=65_536, metadata=_range(64, 16 << 20))
    max_frames_per_second: int = attrs.field(default=20, metadata=_range(1, 10_000))
    outgoing_queue_size: int = attrs.field(default=500, metadata=_range(1, 100_000))
    resume_window_seconds: float = attrs.field(default=60.0, metadata=_range(0, 3600))
    resume_buffer_events: int = attrs.field(default=1000, metadata=_range(1, 100_000))
    presence_window_ms: int = attrs.field(default=250, metadata=_range(0, 10_000))

    @property
    def idle_timeout(self) -> float:
        if self.idle_timeout_seconds is not None:
            return self.idle_timeout_seconds
        return 2 * self.heartbeat_interval_ms / 1000 + 15


@attrs.frozen
class IceConfig:
    """`[ice]`: STUN and TURN URL lists, turn_secret (≥ 32 chars; TURN entries appear only when it
    and turn_urls are set) and turn_ttl_seconds (credential lifetime, seconds). API.md §3.7.
    """
    stun_urls: list[str] = attrs.field(factory=list)
    turn_urls: list[str] = attrs.field(factory=list)
    turn_secret: str | None = None
    turn_ttl_seconds: int = attrs.field(default=86_400, metadata=_range(60, 30 * DAY))

    def __repr__(self) -> str:
        return f"IceConfig(stun_urls={self.stun_urls!r}, turn_urls={self.turn_urls!r}, turn_secret=<hidden>)"


@attrs.frozen
class LimitsConfig:
    """`[limits]`: per-user/server/channel/message caps (counts, each ≥ 1); a full limit answers
    400 `limit_reached`. API.md §9.
    """
    gateway_sessions_per_user: int = attrs.field(default=16, metadata=_range(1, 1_000))
    bots_per_user: int = attrs.field(default=10, metadata=_range(1, 10_000))
    reactions_per_message: int = attrs.field(default=20, metadata=_range(1, 1_000))
    roles_per_server: int = attrs.field(default=250, metadata=_range(1, 10_000))
    channels_per_server: int = attrs.field(default=500, metadata=_range(1, 10_000))
    overrides_per_channel: int = attrs.field(default=100, metadata=_range(1, 10_000))
    pins_per_channel: int = attrs.field(default=50, metadata=_range(1, 10_000))
    emojis_per_server: int = attrs.field(default=50, metadata=_range(1, 10_000))


DEFAULT_ALLOWED_TYPES = [
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/flac", "audio/mp4",
    "video/mp4", "video/webm", "video/quicktime", "video/x-matroska",
    "application/pdf", "text/plain",
    "application/zip", "application/gzip", "application/x-7z-compressed", "application/x-tar",
    "application/x-xz", "application/x-bzip2", "application/vnd.rar",
]


@attrs.frozen
class AttachmentsConfig:
    """`[attachments]` (issue 10): enabled; max_file_bytes (bytes per file, 1 byte…); max_files_per_message
    (1–100); max_image_pixels (width × height refused before decoding); url_ttl_seconds (lifetime of a
    signed `/files/...` URL, also its `Cache-Control` max-age); allowed_types (sniffed MIME types that
    may be uploaded); max_bytes_per_user (bytes a user's live attachments may total, 0 = no quota);
    min_free_disk_bytes (uploads get 507 when the data disk has less free space); pending_seconds (a
    message with no visible content and no attachment is deleted after this many seconds).
    """
    enabled: bool = True
    max_file_bytes: int = attrs.field(default=50 * 1024 * 1024, metadata=_range(1, 1 << 40))
    max_files_per_message: int = attrs.field(default=10, metadata=_range(1, 100))
    max_image_pixels: int = attrs.field(default=40_000_000, metadata=_range(1, 1_000_000_000))
    url_ttl_seconds: int = attrs.field(default=86_400, metadata=_range(1, 365 * DAY))
    allowed_types: list[str] = attrs.field(factory=lambda: list(DEFAULT_ALLOWED_TYPES))
    max_bytes_per_user: int = attrs.field(default=0, metadata=_range(0, 1 << 50))
    min_free_disk_bytes: int = attrs.field(default=512 * 1024 * 1024, metadata=_range(0, 1 << 50))
    pending_seconds: int = attrs.field(default=120, metadata=_range(1, DAY))


@attrs.frozen
class LinkPreviewConfig:
    """`[link_previews]`: `GET /link-preview` (issue 12). enabled (false: 404 feature_disabled),
    allow_private (also fetch loopback, private, link-local and metadata addresses; a LAN party
    may want it), timeout_seconds (whole fetch, redirects included), max_bytes (bytes read of a
    page), max_redirects, cache_entries and cache_ttl_seconds (seconds; failures are kept a
    tenth of that).
    """
    enabled: bool = True
    allow_private: bool = False
    timeout_seconds: float = attrs.field(default=3.0, metadata=_range(0.1, 30))
    max_bytes: int = attrs.field(default=1_048_576, metadata=_range(1024, 16_777_216))
    max_redirects: int = attrs.field(default=5, metadata=_range(0, 20))
    cache_entries: int = attrs.field(default=1000, metadata=_range(1, 1_000_000))
    cache_ttl_seconds: float = attrs.field(default=3600.0, metadata=_range(0, 604_800))


@attrs.frozen
class GiphyConfig:
    """`[giphy]`: GIF search (`GET /giphy/search`, issue 12) is off unless api_key is set;
    base_url is the Giphy API root (tests point it at a local server), rating the content
    rating passed on (g, pg, pg-13, r).
    """
    api_key: str | None = None
    base_url: str = "https://api.giphy.com"
    rating: Literal["g", "pg", "pg-13", "r"] = "pg"

    def __repr__(self) -> str:
        return f"GiphyConfig(base_url={self.base_url!r}, api_key=<hidden>)"


@attrs.frozen
class LoggingConfig:
    """`[logging]`: log level and access_log (one line per request, never tokens). API.md §9."""
    level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False


@attrs.frozen
class AuditLogConfig:
    """`[audit_log]` (issue 13): retention_days (entries older than this many days are purged;
    0 keeps them for ever), purge_batch (rows deleted per short write transaction)."""
    retention_days: int = attrs.field(default=90, metadata=_range(0, 36_500))
    purge_batch: int = attrs.field(default=500, metadata=_range(1, 100_000))


@attrs.frozen
class WebhooksConfig:
    """`[webhooks]` (issue 13): incoming_per_minute (posts per incoming webhook per rolling
    minute; more get 429), outgoing delivery: timeout_seconds per attempt, max_attempts
    (first try + retries, with back-off retry_delays_seconds between them), and
    allow_private_addresses (deliver to loopback/private/link-local addresses: off, the SSRF
    guard, unless you run receivers on your LAN)."""
    incoming_per_minute: int = attrs.field(default=30, metadata=_range(1, 10_000))
    timeout_seconds: float = attrs.field(default=10.0, metadata=_range(0.1, 120))
    max_attempts: int = attrs.field(default=3, metadata=_range(1, 10))
    retry_delays_seconds: list[float] = attrs.field(factory=lambda: [5.0, 15.0])
    allow_private_addresses: bool = False


@attrs.frozen
class Config:
    """The whole configuration file (API.md §9), one attribute per TOML section.

    `base_dir` is internal: the directory relative paths are resolved from; `data_path` is the
    resolved `server.data_dir`.
    """
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    ratelimit: RateLimitConfig = RateLimitConfig()
    gateway: GatewayConfig = GatewayConfig()
    ice: IceConfig = IceConfig()
    limits: LimitsConfig = LimitsConfig()
    attachments: AttachmentsConfig = AttachmentsConfig()
    logging: LoggingConfig = LoggingConfig()
    audit_log: AuditLogConfig = AuditLogConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    link_previews: LinkPreviewConfig = LinkPreviewConfig()
    giphy: GiphyConfig = GiphyConfig()
    # Where relative paths are resolved from (the config file's folder, or the cwd).
    base_dir: str = attrs.field(default=".", metadata={"internal": True})

    @property
    def data_path(self) -> Path:
        p = Path(self.server.data_dir).expanduser()
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()


def _resolve_types(cls: type) -> None:
    """Turn every section's string annotations into classes (for _check_tables and the tests)."""
    attrs.resolve_types(cls)
    for field in attrs.fields(cls):
        if attrs.has(field.type):  # type: ignore[arg-type]
            _resolve_types(field.type)  # type: ignore[arg-type]


_resolve_types(Config)


def _strict(kind: type) -> Any:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}

    def hook(value: Any, _type: Any) -> Any:
        if kind is float:
            if type(value) not in (int, float):
                raise ValueError("must be a number")
            if not math.isfinite(value):  # TOML allows nan and inf; no setting means them
                raise ValueError("must be a finite number (not nan or inf)")
            return float(value)
        if type(value) is not kind:
            raise ValueError(f"must be {names[kind]}")
        return value
    return hook


def _string_list(value: Any, _type: Any) -> list[str]:
    # A bare string is not a list of one (cattrs would split it into characters).
    if type(value) is not list:
        raise ValueError("must be a list of strings")
    for item in value:
        if type(item) is not str:
            raise ValueError("must be a list of strings")
    return list(value)


def _literal(value: Any, type_: Any) -> Any:
    choices = type_.__args__
    if value not in choices:
        raise ValueError("must be one of " + ", ".join(f'"{c}"' for c in choices))
    return value


_converter = cattrs.Converter(forbid_extra_keys=True)
for _kind in (str, int, float, bool):
    _converter.register_structure_hook(_kind, _strict(_kind))
_converter.register_structure_hook_func(lambda t: t == list[str], _string_list)
_converter.register_structure_hook_func(
    lambda t: getattr(t, "__origin__", None) is Literal, _literal
)


def _walk_errors(exc: BaseException, prefix: str) -> str:
    """The first error of a cattrs error tree as ``dotted.key: reason``."""
    if isinstance(exc, ForbiddenExtraKeysError):
        keys = ", ".join(f"{prefix}.{k}".lstrip(".") for k in sorted(exc.extra_fields))
        return f"{keys}: unknown key"
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        for sub in exc.exceptions:
            name = None
            for note in getattr(sub, "__notes__", []):
                name = getattr(note, "name", None) or getattr(note, "index", None) or name
            if isinstance(name, int):
                return _walk_errors(sub, f"{prefix}[{name}]")
            return _walk_errors(sub, f"{prefix}.{name}" if name else prefix)
    if isinstance(exc, KeyError):
        return f"{prefix.lstrip('.')}.{exc.args[0]}: is required"
    return f"{prefix.lstrip('.') or '(root)'}: {exc}"


def _check_ranges(obj: Any, prefix: str) -> None:
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        key = f"{prefix}{field.name}"
        if attrs.has(type(value)):
            _check_ranges(value, key + ".")
            continue
        bounds = field.metadata.get("range")
        if bounds is None or value is None:
            continue
        lo, hi = bounds
        if not lo <= value <= hi:
            raise ConfigError(f"{key}: must be between {lo:g} and {hi:g}")


def _check_tables(data: Any, cls: type, prefix: str) -> None:
    """Every key whose setting is a section (``server``, ``ratelimit.ip``) must hold a TOML
    table: ``server = 5`` says so instead of a cattrs error about iterating an int."""
    for field in attrs.fields(cls):
        if not attrs.has(field.type) or field.name not in data:  # type: ignore[arg-type]
            continue
        key = f"{prefix}{field.name}"
        value = data[field.name]
        if not isinstance(value, dict):
            inner = ", ".join(f.name for f in attrs.fields(field.type))  # type: ignore[arg-type]
            shape = f"a [{key}] section" if not prefix else f"a table {{ {inner} }}"
            raise ConfigError(f"{key}: must be {shape}, not {_toml_kind(value)}")
        _check_tables(value, field.type, key + ".")  # type: ignore[arg-type]


def _toml_kind(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return kinds.get(type(value), "a date or time")


def structure_config(data: dict[str, Any], base_dir: str = ".") -> Config:
    """Structure a parsed TOML mapping into :class:`Config`; raises ConfigError."""
    data = dict(data)
    if "base_dir" in data:
        raise ConfigError("base_dir: unknown key")
    # A bucket table may give only some of its keys; the rest keep that bucket's defaults.
    rl = data.get("ratelimit")
    if isinstance(rl, dict):
        rl = dict(rl)
        for name in ("auth", "user", "ip", "bot"):
            if isinstance(rl.get(name), dict):
                rl[name] = {**attrs.asdict(getattr(RateLimitConfig(), name)), **rl[name]}
        data["ratelimit"] = rl
    _check_tables(data, Config, "")
    try:
        cfg = _converter.structure({**data, "base_dir": base_dir}, Config)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        raise ConfigError(_walk_errors(exc, "")) from None
    _check_ranges(cfg, "")
    _post_validate(cfg)
    return cfg


def _post_validate(cfg: Config) -> None:
    try:
        parse_trusted(cfg.server.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"server.{exc}") from None
    if cfg.auth.jwt_secret is not None and len(cfg.auth.jwt_secret) < 32:
        raise ConfigError("auth.jwt_secret: must be at least 32 characters")
    if cfg.ice.turn_secret is not None and len(cfg.ice.turn_secret) < 32:
        raise ConfigError("ice.turn_secret: must be at least 32 characters")
    if not cfg.giphy.base_url.startswith(("http://", "https://")):
        raise ConfigError("giphy.base_url: must be an http(s) URL")
    _check_related(cfg)


def _check_related(cfg: Config) -> None:
    """Keys that only make sense together (issue 15 §6)."""
    if cfg.auth.refresh_token_ttl_seconds < cfg.auth.access_token_ttl_seconds:
        raise ConfigError(
            "auth.refresh_token_ttl_seconds: must be at least auth.access_token_ttl_seconds "
            f"({cfg.auth.access_token_ttl_seconds}), or sessions end before their first refresh")
    gw = cfg.gateway
    if gw.idle_timeout_seconds is not None and gw.idle_timeout_seconds * 1000 <= gw.heartbeat_interval_ms:
        raise ConfigError(
            f"gateway.idle_timeout_seconds: must be longer than gateway.heartbeat_interval_ms "
            f"({gw.heartbeat_interval_ms} ms), or every client is closed between two heartbeats"
        )
    if bool(cfg.server.tls_cert) != bool(cfg.server.tls_key):
        raise ConfigError("server.tls_cert: tls_cert and tls_key go together (set both or neither)")
    ice = cfg.ice
    if ice.turn_urls and ice.turn_secret is None:
        raise ConfigError("ice.turn_urls: needs ice.turn_secret (coturn's static-auth-secret) to mint credentials")
    for name, schemes in (("stun_urls", ("stun:", "stuns:")), ("turn_urls", ("turn:", "turns:"))):
        for i, url in enumerate(getattr(ice, name)):
            if not url.startswith(schemes) or len(url) <= len(url.split(":", 1)[0]) + 1:
                raise ConfigError(f"ice.{name}[{i}]: must be a {' or '.join(s + '…' for s in schemes)} URL")


def load_config(path: str | Path | None) -> Config:
    """Read ``path`` (or ``./together.toml`` if it exists, else defaults). Raises ConfigError."""
    if path is None:
        default = Path("together.toml")
        if not default.exists():
            return Config(base_dir=str(Path.cwd()))
        path = default
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return structure_config(data, base_dir=str(p.resolve().parent))


def with_overrides(cfg: Config, **server: Any) -> Config:
    """A copy with ``server.*`` values replaced (the CLI's --host/--port/--data-dir)."""
    changes = {k: v for k, v in server.items() if v is not None}
    if not changes:
        return cfg
    out = attrs.evolve(cfg, server=attrs.evolve(cfg.server, **changes))
    _check_ranges(out, "")  # --port 99999 is refused like server.port = 99999 (ConfigError)
    return out
