"""Command line: ``together-server serve [--lan] | init | reindex | discover | backup | restore | check |
admin | --version`` (argparse; the operator commands of issue 13 are in cli_admin.py)."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import secrets
import sys
from pathlib import Path

import attrs
import trio

from . import __version__
from .config import ConfigError, load_config, with_overrides

EXAMPLE_NAME = "together.toml.example"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """``together-server serve``: load config (+ --host/--port/--data-dir) and run the daemon. Returns the exit status: 0, or 1 on a config error or refused start (API.md §9)."""
    from .daemon import find_daemon_error, run_daemon

    try:
        cfg = with_overrides(
            load_config(args.config), host=args.host, port=args.port,
            data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
            lan=True if args.lan else None,
        )
    except ConfigError as exc:
        print(f"together-server: configuration error: {exc}", file=sys.stderr)
        return 1
    if args.skip_quick_check:
        cfg = attrs.evolve(cfg, database=attrs.evolve(cfg.database, quick_check_at_start=False))
    _setup_logging(cfg.logging.level)
    os.umask(0o077)  # the database, WAL and secret are private to the server's user
    if cfg.logging.access_log:
        logging.getLogger("together_server.access").setLevel(logging.INFO)
    try:
        trio.run(functools.partial(run_daemon, cfg, init_empty_database=args.init))
    except KeyboardInterrupt:
        return 0
    except BaseException as exc:
        refused = find_daemon_error(exc)
        if refused is None:
            raise
        print(f"together-server: {refused}", file=sys.stderr)
        return 1
    return 0


def _example_text() -> str:
    from importlib.resources import files

    return (files("together_server") / "together.toml.example").read_text(encoding="utf-8")


def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented config with a fresh JWT secret (refuses to overwrite)."""
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"together-server: {path} exists (use --force to overwrite)", file=sys.stderr)
        return 1
    text = _example_text().replace(
        '# jwt_secret = ""', f'jwt_secret = "{secrets.token_urlsafe(48)}"', 1
    )
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    print(f"wrote {path}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the search index with a progress bar; refuses while a server runs."""
    import sqlite3

    from .daemon import DaemonError, DataDirLock
    from .search.reindex import ProgressBar, reindex
    from .storage import startcheck
    from .storage.db import apply_migrations, migration_files

    try:
        cfg = with_overrides(load_config(args.config), data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None)
    except ConfigError as exc:
        print(f"together-server: configuration error: {exc}", file=sys.stderr)
        return 1
    path = cfg.data_path / "together.db"
    if not path.exists():
        print(f"together-server: no database at {path}", file=sys.stderr)
        return 1
    lock = DataDirLock(cfg.data_path)
    try:
        lock.acquire()
    except DaemonError as exc:
        print(f"together-server: {exc}; stop it before reindexing", file=sys.stderr)
        return 1
    try:
        try:  # the same refusals as serve: damaged header, empty file, newer schema (issue 15 §5)
            startcheck.check_file(path, allow_empty=False)
            conn = sqlite3.connect(str(path), isolation_level=None)
            startcheck.check_version(conn, path, {v: n for v, n, _s in migration_files()}, __version__)
        except (startcheck.StartRefused, sqlite3.DatabaseError) as exc:
            print(f"together-server: {exc}", file=sys.stderr)
            return 1
        apply_migrations(conn)
        bar = ProgressBar()
        count = reindex(conn, bar)
        bar.finish()
        conn.close()
    finally:
        lock.release()
    print(f"reindexed {count} messages")
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    """``together-server discover``: browse ``_together._tcp`` over mDNS for ``--seconds`` and list
    each server's name, URLs, version and certificate fingerprint (issue 14). Exit status 0."""
    from .lan.mdns import browse, format_found

    sys.stdout.write(format_found(browse(max(0.5, min(args.seconds, 60.0)))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for ``serve``, ``init``, ``reindex`` and ``--version``; each subcommand sets ``func``."""
    parser = argparse.ArgumentParser(prog="together-server", description="A self-hosted chat server.")
    parser.add_argument("--version", action="version", version=f"together-server {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--config", help="TOML config file (default: ./together.toml if present)")
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port, 0 for any free port (overrides server.port)")
    serve.add_argument("--data-dir", help="data directory (overrides server.data_dir)")
    serve.add_argument("--lan", action="store_true",
                       help="LAN party mode: all interfaces, HTTPS with our own CA, mDNS, QR code (sets server.lan)")
    serve.add_argument("--init", action="store_true",
                       help="accept an empty (0-byte) together.db and create a new database in it "
                            "(without it, an empty file where a database was expected is refused)")
    serve.add_argument("--skip-quick-check", action="store_true",
                       help="start without the PRAGMA quick_check of the database (huge files; sets "
                            "database.quick_check_at_start = false for this start)")
    serve.set_defaults(func=cmd_serve)
    discover = sub.add_parser("discover", help="list the together-servers announced on this network (mDNS)")
    discover.add_argument("--seconds", type=float, default=3.0, help="how long to listen (default 3)")
    discover.set_defaults(func=cmd_discover)
    init = sub.add_parser("init", help="write a commented config file with a fresh secret")
    init.add_argument("path", nargs="?", default="together.toml")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_init)
    reindex = sub.add_parser("reindex", help="rebuild the search index (server must be stopped)")
    reindex.add_argument("--config")
    reindex.add_argument("--data-dir")
    reindex.set_defaults(func=cmd_reindex)
    from .cli_admin import add_parsers

    add_parsers(sub)  # backup, restore, check, admin (issue 13)
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: parse ``argv`` (None = sys.argv) and run the subcommand; returns its exit status (2 with no subcommand)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Everything the commands write (database, secret, backups holding both, restored blobs)
    # is private to the server's user.
    os.umask(0o077)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
