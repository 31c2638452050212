"""Local users, server-side sessions and the audit trail, in a small SQLite file.

The file sits beside the DuckDB database (``parley.duckdb`` -> ``parley.web.sqlite``). It is not
in the DuckDB file on purpose: DuckDB lets one process write at a time and then nobody else may
even read, so a login or an audit row written there would hold up ingestion (and wait for it).
SQLite in WAL mode takes these small writes in microseconds, from any number of threads.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import ConfigError

ROLES = ("admin", "compliance", "team_lead")
SCHEMA = Path(__file__).resolve().parent / "schema.sql"
SESSION_HOURS = 12
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("parley-dummy-password")


@dataclass(frozen=True)
class User:
    """A logged-in person. ``team`` is set for team leads: the only team they may see."""

    username: str
    role: str
    team: str | None = None

    @property
    def scope(self) -> str | None:
        """The team this user is limited to, or None for admin and compliance (everything)."""
        return self.team if self.role == "team_lead" else None

    @property
    def is_compliance(self) -> bool:
        return self.role in ("admin", "compliance")


def accounts_path(db_path: str | Path) -> Path:
    """The accounts file that belongs to a DuckDB database file."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.stem + ".web.sqlite")


def _user(username: str, role: str, team: str | None) -> User | None:
    """A User from a stored row; None for a row that would see too much (a team lead without a team)."""
    if role not in ROLES or (role == "team_lead" and not team):
        return None
    return User(username, role, team if role == "team_lead" else None)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Users, sessions and audit rows of one Parley database. Holds no connection between calls."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA.read_text())

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10)
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a crash of the app, one fsync per checkpoint
        return con

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with closing(self._connect()) as con, con:
            return con.execute(sql, params).fetchall()

    # -- users -------------------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str, team: str | None = None) -> User:
        """Create a user, or reset the password, role and team of an existing one."""
        if role not in ROLES:
            raise ConfigError(f"unknown role '{role}'", fix=f"use one of: {', '.join(ROLES)}")
        if role == "team_lead" and not team:
            raise ConfigError(f"team lead '{username}' has no team", fix="pass --team TEAM (the recordings.team they lead)")
        if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"bad user name '{username}'", fix="use letters, digits, '.', '-' or '_'")
        if len(password) < 8:
            raise ConfigError(f"the password for '{username}' is shorter than 8 characters", fix="choose a longer password")
        self._run(
            "INSERT INTO users (username, password_hash, role, team, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, team = excluded.team, disabled = 0",
            (username, _hasher.hash(password), role, team if role == "team_lead" else None, _now().isoformat()),
        )
        return User(username, role, team if role == "team_lead" else None)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password matches; None otherwise (same work either way)."""
        rows = self._run("SELECT password_hash, role, team FROM users WHERE username = ? AND disabled = 0", (username,))
        stored = rows[0][0] if rows else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        if _hasher.check_needs_rehash(stored):
            self._run("UPDATE users SET password_hash = ? WHERE username = ?", (_hasher.hash(password), username))
        return _user(username, rows[0][1], rows[0][2])

    # -- sessions ----------------------------------------------------------------------------
    def start_session(self, user: User) -> tuple[str, str]:
        """A new session: (cookie token, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now()
        self._run(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            (_token_hash(token), user.username, csrf, now.isoformat(), (now + timedelta(hours=SESSION_HOURS)).isoformat()),
        )
        return token, csrf

    def session(self, token: str | None) -> tuple[User, str] | None:
        """(user, CSRF token) of a live session, or None."""
        if not token:
            return None
        rows = self._run(
            "SELECT u.username, u.role, u.team, s.csrf FROM sessions s JOIN users u USING (username) "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
            (_token_hash(token), _now().isoformat()),
        )
        user = _user(rows[0][0], rows[0][1], rows[0][2]) if rows else None
        return (user, rows[0][3]) if user else None

    def end_session(self, token: str | None) -> None:
        if token:
            self._run("DELETE FROM sessions WHERE token_hash = ? OR expires_at < ?", (_token_hash(token), _now().isoformat()))

    # -- audit -------------------------------------------------------------------------------
    def audit(self, user: User | None, action: str, target: str | None = None, detail: str | None = None, client: str | None = None) -> None:
        """Record who viewed or exported what."""
        self._run(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now().isoformat(), user.username if user else None, user.role if user else None, action, target, detail, client),
        )

    def audit_rows(self, limit: int = 200) -> list[tuple]:
        """The latest audit rows, newest first: (at, username, role, action, target, detail, client)."""
        return self._run("SELECT * FROM audit ORDER BY at DESC LIMIT ?", (limit,))


def add_user(db_path: str | Path, username: str, password: str, role: str, team: str | None = None) -> User:
    """Create or update a web user of the Parley database at ``db_path`` (for `parley users add`)."""
    return Accounts(accounts_path(db_path)).add_user(username, password, role, team)
