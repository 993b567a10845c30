"""argon2id password hashing, off the event loop and bounded (DESIGN.md "Threads").

``Passwords.hash`` / ``verify`` run argon2 in a worker thread under their own
CapacityLimiter (``max(2, cpus // 2)``) so a login flood cannot starve SQL threads.
``verify_dummy`` costs the same as a real check: unknown usernames, bots and deleted
accounts are verified against a fixed dummy hash so every failed login takes as long.
"""

from __future__ import annotations

import os

import argon2
import trio


class Passwords:
    """argon2id hashing (memory in KiB, time_cost iterations, parallelism lanes; config ``auth.argon2_*``).

    ``hash``/``verify`` run in worker threads under a shared CapacityLimiter; a None stored hash is
    checked against a dummy hash so every failed login costs the same (API.md §2.2).
    """
    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._limiter = trio.CapacityLimiter(max(2, (os.cpu_count() or 2) // 2))
        self._dummy = self._hasher.hash("together-server dummy password")

    async def hash(self, password: str) -> str:
        """argon2id PHC string for ``password`` (runs in a thread)."""
        return await trio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``; a None hash verifies the dummy (False)."""
        target = stored if stored else self._dummy
        ok = await trio.to_thread.run_sync(self._verify_sync, target, password, limiter=self._limiter)
        return ok and stored is not None

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
