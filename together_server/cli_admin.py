"""Operator commands (issue 13): ``backup``, ``restore``, ``check``, ``admin reset-password /
promote / list``. Each prints one clear line on failure (exit status 1), never a traceback.

``backup``, ``check`` and ``admin`` work while the server runs (SQLite's WAL lets them read
and write beside it); ``restore`` needs it stopped (the data directory's lock).
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ConfigError, load_config, with_overrides


class Failure(Exception):
    """A command's one-line failure."""


def _data_dir(args: argparse.Namespace) -> tuple[Any, Path]:
    try:
        cfg = with_overrides(load_config(args.config),
                             data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None)
    except ConfigError as exc:
        raise Failure(f"configuration error: {exc}") from None
    return cfg, cfg.data_path


def _guard(name: str, fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from .backup import BackupError
        from .errors import ApiError

        try:
            return fn(args)
        except KeyboardInterrupt:
            print(f"together-server {name}: interrupted", file=sys.stderr)
            return 1
        except (Failure, BackupError) as exc:
            print(f"together-server {name}: {exc}", file=sys.stderr)
        except ApiError as exc:
            print(f"together-server {name}: {exc.message}", file=sys.stderr)
        except (OSError, sqlite3.Error) as exc:
            print(f"together-server {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - the promise: one line, never a traceback
            print(f"together-server {name}: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return run


def cmd_backup(args: argparse.Namespace) -> int:
    """``together-server backup [--output FILE]``: a verified online backup archive."""
    from .backup import backup, default_output

    _cfg, data_dir = _data_dir(args)
    out = Path(args.output) if args.output else default_output()
    manifest = backup(data_dir, out)
    print(f"backup written to {out}: {manifest['messages']:,} messages, {manifest['blobs']:,} attachment blobs,"
          f" {out.stat().st_size / 1e6:,.1f} MB, integrity verified")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """``together-server restore FILE [--force]``: into a stopped data directory."""
    from .backup import restore
    from .daemon import DaemonError, DataDirLock

    _cfg, data_dir = _data_dir(args)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DaemonError as exc:
        raise Failure(f"{exc}; stop it before restoring") from None
    try:
        manifest = restore(Path(args.file), data_dir, force=args.force)
    finally:
        lock.release()
    print(f"restored {args.file} into {data_dir}: {manifest['messages']:,} messages, {manifest['blobs']:,}"
          f" attachment blobs (backup of {manifest['created_at']})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``together-server check``: exit status 0 healthy, 1 not."""
    from .backup import check
    from .storage.db import migration_files

    _cfg, data_dir = _data_dir(args)
    healthy, lines = check(data_dir, known_version=max(v for v, _n, _s in migration_files()))
    for line in lines:
        print(line)
    print("healthy" if healthy else "NOT healthy")
    return 0 if healthy else 1


def _open_tx(data_dir: Path) -> tuple[sqlite3.Connection, Any]:
    from .ids import IdClock
    from .storage.db import Tx, apply_migrations, connect
    from .storage.writecache import WriteCache

    path = data_dir / "together.db"
    if not path.exists():
        raise Failure(f"no database at {path}")
    conn = connect(path, "full", reader=False)
    apply_migrations(conn)
    return conn, Tx(conn, IdClock(), WriteCache())


def _write(data_dir: Path, fn: Callable[[Any], Any]) -> Any:
    conn, tx = _open_tx(data_dir)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(tx)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        conn.close()


def _no_revoke(kind: str, key: str) -> None:
    """The CLI cannot reach a running server's memory: ended sessions stop at their next
    refresh; access tokens already issued run out within ``auth.access_token_ttl_seconds``."""


def cmd_admin(args: argparse.Namespace) -> int:
    """``together-server admin reset-password USER | promote USER | list``."""
    from .auth.passwords import Passwords
    from .storage import admin

    cfg, data_dir = _data_dir(args)
    if args.action == "list":
        conn, _tx = _open_tx(data_dir)
        try:
            admins = admin.list_admins(conn)
        finally:
            conn.close()
        for a in admins:
            state = "disabled" if a["disabled"] else "active"
            print(f"{a['username']}\t{a['id']}\t{state}\tsince {a['created_at']}")
        if not admins:
            print("no instance admin (the next account to register becomes one)")
        return 0
    if not args.user:
        raise Failure(f"admin {args.action} needs a USER (username or id)")
    if args.action == "promote":
        def promote(tx: Any) -> str:
            row = admin.find_user(tx.conn, args.user)
            admin.set_admin(tx, row["id"], True, None)
            return str(row["username"])
        print(f"{_write(data_dir, promote)} is now an instance admin")
        return 0
    # reset-password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        generated = False
    else:
        password = secrets.token_urlsafe(12)
        generated = True
    if not 8 <= len(password) <= 128:
        raise Failure("the password must be 8-128 characters")
    hasher = Passwords(memory_kib=cfg.auth.argon2_memory_kib, time_cost=cfg.auth.argon2_time_cost,
                       parallelism=cfg.auth.argon2_parallelism)
    new_hash = hasher._hasher.hash(password)  # noqa: SLF001 - synchronous here: no event loop

    def reset(tx: Any) -> str:
        row = admin.find_user(tx.conn, args.user)
        admin.reset_password(tx, row["id"], new_hash, None, _no_revoke)
        return str(row["username"])
    name = _write(data_dir, reset)
    if generated:
        print(f"new password for {name}: {password}")
    else:
        print(f"password of {name} changed")
    print("every login session of the account ended; it logs in with the new password")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``backup``, ``restore``, ``check`` and ``admin`` on the CLI's subparsers."""
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="TOML config file (default: ./together.toml if present)")
        p.add_argument("--data-dir", help="data directory (overrides server.data_dir)")

    b = sub.add_parser("backup", help="write a verified backup archive (the server may run)")
    common(b)
    b.add_argument("--output", "-o", help="archive path (default: ./together-backup-<time>.tar)")
    b.set_defaults(func=_guard("backup", cmd_backup))
    r = sub.add_parser("restore", help="restore a backup archive into a stopped data directory")
    common(r)
    r.add_argument("file", help="the backup archive")
    r.add_argument("--force", action="store_true", help="replace an existing database")
    r.set_defaults(func=_guard("restore", cmd_restore))
    c = sub.add_parser("check", help="integrity, schema version, blobs, disk space (exit 1 if unhealthy)")
    common(c)
    c.set_defaults(func=_guard("check", cmd_check))
    a = sub.add_parser("admin", help="instance admin tasks: reset-password USER, promote USER, list")
    common(a)
    a.add_argument("action", choices=("reset-password", "promote", "list"))
    a.add_argument("user", nargs="?", help="username or user id")
    a.add_argument("--password-stdin", action="store_true",
                   help="reset-password: read the new password from stdin (default: generate and print one)")
    a.set_defaults(func=_guard("admin", cmd_admin))

