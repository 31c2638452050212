"""Login throttling: wrong passwords slow logins down, then lock them for a while.

Failures are counted per user name and per client address over ``window_s`` (in the accounts
SQLite file, so every worker of the app sees the same counts). From ``slow_after`` failures on,
the next attempt for that user name or from that address is refused unless it comes at least
2, 4, 8, ... seconds after the last failure; from ``lock_after`` failures on, every attempt is
refused until ``lock_s`` after the last one, even with the right password. Refused attempts are
not checked, so they cost no argon2 work and do not count. A successful login clears its user
name's count (not the address's: an attacker's own account must not reset it).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    wait_s: int = 0
    locked: bool = False
    key: str | None = None
    """What is throttled: 'user' or 'address'."""


class LoginThrottle:
    def __init__(self, path: str | Path, *, slow_after: int = 3, lock_after: int = 10, window_s: float = 900.0, lock_s: float = 900.0,
                 clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.slow_after, self.lock_after, self.window_s, self.lock_s = slow_after, lock_after, window_s, lock_s
        self.clock = clock

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    @staticmethod
    def keys(username: str, address: str | None) -> dict[str, str]:
        name = hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()[:32]
        return {"user": f"user:{name}", "address": f"addr:{(address or '?')[:64]}"}

    def check(self, username: str, address: str | None) -> Verdict:
        """May this attempt be checked now?"""
        now = self.clock()
        worst = Verdict(True)
        with closing(self._connect()) as con:
            for what, key in self.keys(username, address).items():
                n, last = con.execute("SELECT count(*), max(at) FROM login_failures WHERE key = ? AND at > ?", (key, now - self.window_s)).fetchone()
                if not n:
                    continue
                if n >= self.lock_after and now < last + self.lock_s:
                    verdict = Verdict(False, int(last + self.lock_s - now) + 1, True, what)
                elif n >= self.slow_after and now < last + (delay := min(2 ** (n - self.slow_after + 1), self.lock_s)):
                    verdict = Verdict(False, int(delay), False, what)
                else:
                    continue
                if verdict.locked or worst.allowed or (not worst.locked and verdict.wait_s > worst.wait_s):
                    worst = verdict
        return worst

    def failed(self, username: str, address: str | None) -> Verdict:
        """Count a wrong password; returns what the next attempt will meet."""
        now = self.clock()
        with closing(self._connect()) as con, con:
            con.execute("DELETE FROM login_failures WHERE at < ?", (now - max(self.window_s, self.lock_s),))
            con.executemany("INSERT INTO login_failures VALUES (?, ?)", [(key, now) for key in self.keys(username, address).values()])
        return self.check(username, address)

    def succeeded(self, username: str) -> None:
        with closing(self._connect()) as con, con:
            con.execute("DELETE FROM login_failures WHERE key = ?", (self.keys(username, None)["user"],))

    def unlock(self, username: str) -> int:
        """Forget a user name's wrong passwords (`parley users unlock`); returns how many."""
        with closing(self._connect()) as con, con:
            return con.execute("DELETE FROM login_failures WHERE key = ?", (self.keys(username, None)["user"],)).rowcount
