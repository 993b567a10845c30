"""Outgoing webhook deliveries (issue 13): a daemon task that POSTs queued events.

Every ``poll`` seconds the task reads the due ``webhook_deliveries`` (storage/webhooks.py
queues them inside the transaction of the change) and sends each in its own task, at most
``CONCURRENCY`` at a time, with httpx (async: the event loop never blocks; name resolution
runs in a worker thread). Each request:

* ``POST <url>`` with the JSON envelope ``{"event", "server_id", "delivery_id",
  "timestamp", "data"}``; headers ``X-Together-Signature-256: sha256=<hex HMAC-SHA256 of
  the body with the webhook's secret>`` (GitHub's format), ``X-Together-Event``,
  ``X-Together-Delivery``, ``X-Together-Hook-ID``, ``X-Together-Delivery-Attempt``;
* redirects are not followed; a 2xx answer is success;
* the SSRF guard: the host's every address must be public (not loopback, private,
  link-local, multicast, reserved or unspecified) unless ``webhooks.allow_private_addresses``;
  a refused address fails the delivery at once (no retry).

A failed attempt is retried after ``retry_delays_seconds[i]`` until ``max_attempts``; the
outcome of each attempt is written to the delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import urllib.parse
from typing import Any

import httpx
import trio

from . import previews
from .clock import format_us, now_us
from .config import WebhooksConfig
from .storage import webhooks
from .storage.db import Database

log = logging.getLogger(__name__)
CONCURRENCY = 4
BATCH = 50


class Refused(Exception):
    """The target address is not allowed (SSRF guard) or the URL is unusable."""


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` keyed with ``secret`` (UTF-8)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def address_allowed(ip: str) -> bool:
    """True for a public unicast address (IPv4-mapped IPv6 judged as its IPv4): the one SSRF
    predicate, shared with link previews (``previews.is_public``)."""
    return previews.is_public(ip)


async def check_target(url: str, allow_private: bool) -> None:
    """Raise Refused unless ``url``'s host resolves only to allowed addresses."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("not an http(s) URL")
    if allow_private:
        return
    if parts.scheme != "https":
        raise Refused("only https URLs are delivered (webhooks.allow_private_addresses allows http)")
    port = parts.port or 443
    try:
        infos = await trio.to_thread.run_sync(socket.getaddrinfo, parts.hostname, port, 0, socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"cannot resolve {parts.hostname}: {exc.strerror or exc}") from None
    for info in infos:
        ip = str(info[4][0])
        if not address_allowed(ip):
            raise Refused(f"{parts.hostname} resolves to {ip}, a private or local address")


async def attempt(client: httpx.AsyncClient, job: dict[str, Any], number: int,
                  cfg: WebhooksConfig) -> tuple[bool, int | None, str | None, bool]:
    """One POST. Returns ``(ok, http_status, error, final)``; ``final``: do not retry."""
    body = job["payload"].encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "together-server-webhooks",
        "X-Together-Signature-256": sign(job["secret"] or "", body),
        "X-Together-Event": job["event"],
        "X-Together-Delivery": job["id"],
        "X-Together-Hook-ID": job["webhook_id"],
        "X-Together-Delivery-Attempt": str(number),
    }
    try:
        await check_target(job["url"], cfg.allow_private_addresses)
        resp = await client.post(job["url"], content=body, headers=headers)
    except Refused as exc:
        return False, None, str(exc), True
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return False, None, f"{type(exc).__name__}: {exc}"[:300], False
    if 200 <= resp.status_code < 300:
        return True, resp.status_code, None, False
    return False, resp.status_code, f"HTTP {resp.status_code}", False


async def run(db: Database, cfg: WebhooksConfig, *, poll: float = 0.5) -> None:
    """Daemon task: deliver due webhook events until cancelled."""
    in_flight: set[str] = set()
    limiter = trio.CapacityLimiter(CONCURRENCY)
    delays = list(cfg.retry_delays_seconds) or [0.0]

    async with httpx.AsyncClient(timeout=cfg.timeout_seconds, follow_redirects=False) as client:

        async def deliver(job: dict[str, Any]) -> None:
            try:
                async with limiter:
                    number = job["attempts"] + 1
                    ok, status, error, final = await attempt(client, job, number, cfg)
                    next_at = None
                    if not ok and not final and number < cfg.max_attempts:
                        wait = delays[min(number - 1, len(delays) - 1)]
                        next_at = format_us(now_us() + int(wait * 1_000_000))
                    await db.write(lambda tx: webhooks.record_attempt(
                        tx, job["id"], ok=ok, status=status, error=error, next_at=next_at))
            except Exception:
                log.exception("webhook delivery %s failed", job["id"])
            finally:
                in_flight.discard(job["id"])

        async with trio.open_nursery() as nursery:
            while True:
                try:
                    jobs = await db.read(webhooks.due, format_us(now_us()), BATCH)
                except Exception:
                    log.exception("reading due webhook deliveries failed")
                    jobs = []
                for job in jobs:
                    if job["id"] not in in_flight:
                        in_flight.add(job["id"])
                        nursery.start_soon(deliver, job)
                await trio.sleep(poll)
