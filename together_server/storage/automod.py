"""Automod (issue 13): per-server rules checked inside the posting (and editing) transaction.

Rules, each with its own action:

* blocked words/phrases (``automod_words``): matched on folded text (NFKD, combining marks
  dropped, casefold: case- and accent-insensitive). A word of a script written with spaces
  matches whole words only (``ass`` does not catch ``class``); a word holding Han, kana,
  Thai, Lao, Khmer, Myanmar or Hangul characters matches anywhere (those scripts do not
  separate words). Phrases match with any run of white space between their words.
* invite links (``discord.gg/…``, ``…/invite/…``) and links (``http(s)://``, ``www.``).
* mention spam: more than ``mention_max`` mentions (``@name``, ``@everyone``) in one message.
* message flood: more than ``spam_max_messages`` messages in ``spam_window_secs``.
* duplicate flood: the same text ``duplicate_max`` times in ``duplicate_window_secs``.

Actions: ``block`` (400 ``automod_blocked``, nothing stored), ``delete`` (the same for a new
message; an edit that trips it deletes the message), ``timeout`` (block and time the author
out for ``timeout_minutes``), ``kick``, ``ban`` (block and remove the author). Each hit is
logged (``automod_logs``) in the same transaction and sent to MANAGE_AUTOMOD holders as
``AUTOMOD_ACTION``. Exempt: the owner and members with MANAGE_MESSAGES or ADMINISTRATOR
in the channel. The writer caches each server's compiled rules (``tx.cache``; every
automod change clears it).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from typing import Any

import attrs

from .. import permissions as p
from ..errors import ApiError
from ..search.segment import NOSPACE_SCRIPTS, script_of
from . import audit
from .access import need_member, need_server_bit
from .db import Event, Tx
from .perms import member_ids

ACTIONS = ("block", "delete", "timeout", "kick", "ban")
CONFIG_FIELDS = (
    "enabled", "word_filter_enabled", "word_filter_action", "invite_filter_enabled",
    "link_filter_enabled", "link_action", "mention_enabled", "mention_max", "mention_action",
    "spam_enabled", "spam_max_messages", "spam_window_secs", "spam_action", "duplicate_enabled",
    "duplicate_max", "duplicate_window_secs", "duplicate_action", "timeout_minutes",
)
BOOLS = {f for f in CONFIG_FIELDS if f == "enabled" or f.endswith("_enabled")}
DEFAULTS: dict[str, Any] = {
    "enabled": False, "word_filter_enabled": False, "word_filter_action": "block",
    "invite_filter_enabled": False, "link_filter_enabled": False, "link_action": "block",
    "mention_enabled": False, "mention_max": 5, "mention_action": "block",
    "spam_enabled": False, "spam_max_messages": 5, "spam_window_secs": 5, "spam_action": "block",
    "duplicate_enabled": False, "duplicate_max": 3, "duplicate_window_secs": 30,
    "duplicate_action": "block", "timeout_minutes": 10,
}
MAX_WORDS = 1000
EXEMPT = int(p.Permission.MANAGE_MESSAGES | p.Permission.ADMINISTRATOR)

INVITE_RE = re.compile(r"(?i)(?:discord(?:app)?\.com/invite|discord\.gg|/invite)/[A-Za-z0-9-]+")
LINK_RE = re.compile(r"(?i)(?:\bhttps?://|\bwww\.)\S")
MENTION_RE = re.compile(r"(?<![A-Za-z0-9_-])@([A-Za-z0-9_-]+)")
_WORD = re.compile(r"\w+")


def fold_text(text: str) -> str:
    """Case- and accent-free form used for matching: NFKD, combining marks and invisible format
    characters (category Cf: zero-width space, soft hyphen, ...) dropped, casefold."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        ch for ch in decomposed if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    ).casefold()


def _same_text(text: str) -> str:
    """The duplicate-flood key: folded, runs of white space made one space, ends trimmed."""
    return " ".join(fold_text(text).split())


def _unspaced(word: str) -> bool:
    return any(script_of(ch) in NOSPACE_SCRIPTS for ch in word)


@attrs.frozen
class Matcher:
    """Compiled blocked words of one server: whole single words (a set), anywhere-substrings
    (unspaced scripts) and a regex for phrases and words with punctuation."""
    words: frozenset[str]
    substrings: tuple[str, ...]
    pattern: re.Pattern[str] | None
    originals: dict[str, str]

    @classmethod
    def build(cls, entries: list[tuple[str, str]]) -> Matcher:
        words, subs, rx = set(), [], []
        originals: dict[str, str] = {}
        for word, folded in entries:
            originals[folded] = word
            if _unspaced(folded):
                subs.append(folded)
            elif _WORD.fullmatch(folded):
                words.add(folded)
            else:
                parts = [re.escape(part) for part in folded.split()]
                rx.append(r"\s+".join(parts))
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(rx) + r")(?!\w)") if rx else None
        return cls(frozenset(words), tuple(subs), pattern, originals)

    def find(self, text: str) -> str | None:
        """The blocked entry (as written by the moderator) found in ``text``, or None."""
        folded = fold_text(text)
        if self.words:
            for token in _WORD.findall(folded):
                if token in self.words:
                    return self.originals[token]
        for sub in self.substrings:
            if sub in folded:
                return self.originals[sub]
        if self.pattern is not None:
            m = self.pattern.search(folded)
            if m:
                return self.originals.get(" ".join(m.group(0).split()), m.group(0))
        return None


@attrs.frozen
class Rules:
    config: dict[str, Any]
    matcher: Matcher | None


@attrs.frozen
class Blocked:
    """What ``check`` caught: the rule, its action and the matched term; ``error()`` is the 400."""
    rule: str
    action: str
    term: str | None

    def error(self) -> ApiError:
        what = {"word_filter": "a blocked word", "invite_filter": "an invite link", "link_filter": "a link",
                "mention_spam": "too many mentions", "spam": "too many messages",
                "duplicate": "the same message too often"}[self.rule]
        return ApiError("automod_blocked", f"Automod blocked this message: {what}",
                        errors={"content": f"blocked by the automod rule {self.rule}"})


def _config_row(conn: sqlite3.Connection, server_id: str) -> dict[str, Any]:
    row = conn.execute(f"SELECT {', '.join(CONFIG_FIELDS)}, updated_at FROM automod_configs WHERE server_id = ?",
                       (server_id,)).fetchone()
    if row is None:
        return {**DEFAULTS, "updated_at": None}
    return {k: (bool(row[k]) if k in BOOLS else row[k]) for k in (*CONFIG_FIELDS, "updated_at")}


def _shape(server_id: str, cfg: dict[str, Any]) -> dict[str, Any]:
    return {"server_id": server_id, **cfg}


def rules_for(tx: Tx, server_id: str) -> Rules:
    """The server's compiled rules, memoised in the writer cache."""
    key = ("automod", server_id)
    cached = tx.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    cfg = _config_row(tx.conn, server_id)
    matcher = None
    if cfg["enabled"] and cfg["word_filter_enabled"]:
        entries = tx.conn.execute("SELECT word, word_fold FROM automod_words WHERE server_id = ?",
                                  (server_id,)).fetchall()
        matcher = Matcher.build([(w, f) for w, f in entries]) if entries else None
    return tx.cache.put(key, Rules(cfg, matcher))  # type: ignore[no-any-return]


def _since_id(now: str, seconds: int) -> str:
    """The smallest UUIDv7 of the instant ``seconds`` before ``now`` (an id-ordered bound)."""
    from ..clock import parse_ts

    ms = int(parse_ts(now).timestamp() * 1000) - seconds * 1000
    h = f"{max(ms, 0):012x}"
    return f"{h[:8]}-{h[8:12]}-0000-0000-000000000000"


def check(
    tx: Tx, server_id: str, user_id: str, eff: int, content: str, now: str, *, is_edit: bool = False,
) -> Blocked | None:
    """Write job step: the first rule ``content`` trips, or None (automod off, exempt, clean).

    ``eff``: the author's permissions in the channel (MANAGE_MESSAGES/ADMINISTRATOR exempt;
    the owner's ``eff`` is ALL). Flood rules count the author's earlier messages in the
    server (not for edits).
    """
    rules = rules_for(tx, server_id)
    cfg = rules.config
    if not cfg["enabled"] or eff & EXEMPT:
        return None
    if rules.matcher is not None:
        term = rules.matcher.find(content)
        if term is not None:
            return Blocked("word_filter", cfg["word_filter_action"], term)
    if cfg["invite_filter_enabled"]:
        m = INVITE_RE.search(content)
        if m:
            return Blocked("invite_filter", cfg["link_action"], m.group(0))
    if cfg["link_filter_enabled"]:
        m = LINK_RE.search(content)
        if m:
            return Blocked("link_filter", cfg["link_action"], None)
    if cfg["mention_enabled"] and "@" in content:
        count = len({m.group(1).lower() for m in MENTION_RE.finditer(content)})
        if count > cfg["mention_max"]:
            return Blocked("mention_spam", cfg["mention_action"], str(count))
    if is_edit:
        return None
    if cfg["spam_enabled"]:
        (n,) = tx.conn.execute(
            "SELECT count(*) FROM messages WHERE author_id = ? AND id >= ? AND server_id = ? AND deleted = 0",
            (user_id, _since_id(now, cfg["spam_window_secs"]), server_id)).fetchone()
        if n >= cfg["spam_max_messages"]:
            return Blocked("spam", cfg["spam_action"], None)
    if cfg["duplicate_enabled"]:
        key = _same_text(content)
        recent = tx.conn.execute(  # one author's posts in the window: bounded by the flood rules
            "SELECT content FROM messages WHERE author_id = ? AND id >= ? AND server_id = ? AND deleted = 0",
            (user_id, _since_id(now, cfg["duplicate_window_secs"]), server_id)).fetchall()
        n = sum(1 for (text,) in recent if _same_text(text) == key)
        if n + 1 >= cfg["duplicate_max"]:
            return Blocked("duplicate", cfg["duplicate_action"], None)
    return None


def enforce(tx: Tx, server_id: str, channel_id: str, user_id: str, content: str, hit: Blocked) -> Blocked:
    """Write job step after a hit: the log row, the action's side effect (timeout, kick, ban)
    and ``AUTOMOD_ACTION`` to MANAGE_AUTOMOD holders; returns ``hit`` (the caller answers
    ``hit.error()`` and stores nothing)."""
    from .servers import holders_of, remove_member

    log_id, now = tx.new_id()
    tx.conn.execute(
        "INSERT INTO automod_logs (id, server_id, channel_id, user_id, rule_type, action_taken, matched_term,"
        " message_content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (log_id, server_id, channel_id, user_id, hit.rule, hit.action, hit.term, content[:2000], now),
    )
    cfg = rules_for(tx, server_id).config
    if hit.action == "timeout":
        from ..clock import format_us, parse_ts

        expires = format_us(int(parse_ts(now).timestamp() * 1_000_000) + cfg["timeout_minutes"] * 60_000_000)
        tx.conn.execute(
            "INSERT INTO timeouts (server_id, user_id, expires_at, reason, created_by, created_at)"
            " VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (server_id, user_id) DO UPDATE SET"
            " expires_at = excluded.expires_at, reason = excluded.reason, created_by = NULL,"
            " created_at = excluded.created_at",
            (server_id, user_id, expires, f"automod: {hit.rule}", now),
        )
        audit.record(tx, server_id, None, "member_timeout", target_type="member", target_id=user_id,
                     changes={"expires_at": {"old": None, "new": expires}, "rule": hit.rule},
                     reason=f"automod: {hit.rule}")
        tx.emit(Event("MEMBER_TIMEOUT", {"server_id": server_id, "user_id": user_id, "expires_at": expires,
                                         "reason": f"automod: {hit.rule}"}, member_ids(tx.conn, server_id)))
    elif hit.action in ("kick", "ban"):
        reason = f"automod: {hit.rule}"
        if hit.action == "ban":
            tx.conn.execute(
                "INSERT OR REPLACE INTO bans (server_id, user_id, banned_by, reason, created_at)"
                " VALUES (?, ?, NULL, ?, ?)", (server_id, user_id, reason, now))
        audit.record(tx, server_id, None, f"member_{hit.action}", target_type="member", target_id=user_id,
                     reason=reason)
        event = Event("MEMBER_KICK" if hit.action == "kick" else "MEMBER_BAN",
                      {"server_id": server_id, "user_id": user_id, "reason": reason}, member_ids(tx.conn, server_id))
        remove_member(tx, server_id, user_id, event)
    username = tx.conn.execute("SELECT username FROM users WHERE id = ?", (user_id,)).fetchone()
    tx.emit(Event("AUTOMOD_ACTION", {
        "server_id": server_id, "channel_id": channel_id, "user_id": user_id,
        "username": username[0] if username else None, "rule_type": hit.rule, "action_taken": hit.action,
        "matched_term": hit.term,
    }, holders_of(tx.conn, server_id, p.Permission.MANAGE_AUTOMOD)))
    return hit


# -- the routes' storage --------------------------------------------------------------


def _need_manage(conn: sqlite3.Connection, server_id: str, user_id: str) -> None:
    need_server_bit(need_member(conn, server_id, user_id), p.Permission.MANAGE_AUTOMOD)


def get_config(conn: sqlite3.Connection, server_id: str, user_id: str) -> dict[str, Any]:
    """Reader: AutomodConfig of ``server_id`` (defaults when never set). Needs MANAGE_AUTOMOD;
    raises 404 ``unknown_server``, 403 ``missing_permission``."""
    _need_manage(conn, server_id, user_id)
    return _shape(server_id, _config_row(conn, server_id))


def update_config(tx: Tx, server_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Write job: apply validated ``changes`` (fields of CONFIG_FIELDS); returns AutomodConfig.
    Audited as ``automod_update`` with before/after. Needs MANAGE_AUTOMOD."""
    _need_manage(tx.conn, server_id, user_id)
    old = _config_row(tx.conn, server_id)
    new = {**{k: old[k] for k in CONFIG_FIELDS}, **changes}
    now = tx.now()
    cols = ", ".join(CONFIG_FIELDS)
    tx.conn.execute(
        f"INSERT INTO automod_configs (server_id, {cols}, updated_at) VALUES (?, {', '.join('?' * len(CONFIG_FIELDS))}, ?)"
        f" ON CONFLICT (server_id) DO UPDATE SET {', '.join(f'{k} = excluded.{k}' for k in CONFIG_FIELDS)},"
        " updated_at = excluded.updated_at",
        (server_id, *(int(new[k]) if k in BOOLS else new[k] for k in CONFIG_FIELDS), now),
    )
    changed = audit.diff(old, changes)
    if changed:
        audit.record(tx, server_id, user_id, "automod_update", target_type="automod", target_id=server_id,
                     changes=changed)
    tx.cache.clear()
    return _shape(server_id, _config_row(tx.conn, server_id))


def _word(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "server_id": row["server_id"], "word": row["word"],
            "created_by": row["created_by"], "created_at": row["created_at"]}


WORD_COLUMNS = "id, server_id, word, created_by, created_at"


def list_words(conn: sqlite3.Connection, server_id: str, user_id: str) -> list[dict[str, Any]]:
    """Reader: [AutomodWordFilter] by word. Needs MANAGE_AUTOMOD."""
    _need_manage(conn, server_id, user_id)
    rows = conn.execute(f"SELECT {WORD_COLUMNS} FROM automod_words WHERE server_id = ? ORDER BY word_fold",
                        (server_id,))
    return [_word(r) for r in rows]


def add_word(tx: Tx, server_id: str, user_id: str, word: str) -> tuple[dict[str, Any], bool]:
    """Write job: block ``word`` (1-100 chars, trimmed; a phrase may hold spaces). Returns
    (AutomodWordFilter, created); an entry that folds to an existing one returns that one.
    Raises 400 ``limit_reached`` past MAX_WORDS. Audited as ``automod_word_add``."""
    _need_manage(tx.conn, server_id, user_id)
    folded = " ".join(fold_text(word).split())
    row = tx.conn.execute(f"SELECT {WORD_COLUMNS} FROM automod_words WHERE server_id = ? AND word_fold = ?",
                          (server_id, folded)).fetchone()
    if row is not None:
        return _word(row), False
    (count,) = tx.conn.execute("SELECT count(*) FROM automod_words WHERE server_id = ?", (server_id,)).fetchone()
    if count >= MAX_WORDS:
        raise ApiError("limit_reached", f"A server blocks at most {MAX_WORDS} words")
    wid, now = tx.new_id()
    tx.conn.execute("INSERT INTO automod_words (id, server_id, word, word_fold, created_by, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (wid, server_id, word, folded, user_id, now))
    audit.record(tx, server_id, user_id, "automod_word_add", target_type="automod", target_id=wid,
                 changes={"word": {"old": None, "new": word}})
    tx.cache.clear()
    row = tx.conn.execute(f"SELECT {WORD_COLUMNS} FROM automod_words WHERE id = ?", (wid,)).fetchone()
    return _word(row), True


def remove_word(tx: Tx, server_id: str, user_id: str, word: str) -> None:
    """Write job: unblock ``word`` (matched folded, or by the entry's id). Raises 404
    ``unknown_word``. Audited as ``automod_word_remove``."""
    _need_manage(tx.conn, server_id, user_id)
    folded = " ".join(fold_text(word).split())
    row = tx.conn.execute("SELECT id, word FROM automod_words WHERE server_id = ? AND (word_fold = ? OR id = ?)",
                          (server_id, folded, word.lower())).fetchone()
    if row is None:
        raise ApiError("unknown_word")
    tx.conn.execute("DELETE FROM automod_words WHERE id = ?", (row["id"],))
    audit.record(tx, server_id, user_id, "automod_word_remove", target_type="automod", target_id=row["id"],
                 changes={"word": {"old": row["word"], "new": None}})
    tx.cache.clear()


def list_logs(conn: sqlite3.Connection, server_id: str, user_id: str, limit: int,
              before: str | None) -> list[dict[str, Any]]:
    """Reader: [AutomodLog], newest first, ``limit`` 1-100, older than id ``before``. Needs MANAGE_AUTOMOD."""
    _need_manage(conn, server_id, user_id)
    rows = conn.execute(
        "SELECT l.id, l.server_id, l.channel_id, l.user_id, u.username, l.rule_type, l.action_taken,"
        " l.matched_term, l.message_content, l.created_at FROM automod_logs l LEFT JOIN users u ON u.id = l.user_id"
        " WHERE l.server_id = ? AND (? IS NULL OR l.id < ?) ORDER BY l.id DESC LIMIT ?",
        (server_id, before, before, limit)).fetchall()
    return [dict(r) for r in rows]
