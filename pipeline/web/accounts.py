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
        with closing(self._connect()) as con, con:  # a reset ends every session the old password opened
            con.execute(
                "INSERT INTO users (username, password_hash, role, team, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, team = excluded.team, disabled = 0",
                (username, _hasher.hash(password), role, team if role == "team_lead" else None, _now().isoformat()),
            )
            con.execute("DELETE FROM sessions WHERE username = ?", (username,))
        return User(username, role, team if role == "team_lead" else None)

    def change_password(self, username: str, current: str, new: str, keep_token: str | None) -> int:
        """Change a user's own password (the current one must match); every other session of the
        user ends, the one holding ``keep_token`` goes on. Returns how many sessions ended."""
        if self.authenticate(username, current) is None:
            raise ConfigError("the current password is wrong", fix="type your current password again")
        if len(new) < 8:
            raise ConfigError("the new password is shorter than 8 characters", fix="choose a longer password")
        with closing(self._connect()) as con, con:
            con.execute("UPDATE users SET password_hash = ? WHERE username = ?", (_hasher.hash(new), username))
            return con.execute("DELETE FROM sessions WHERE username = ? AND token_hash <> ?", (username, _token_hash(keep_token or ""))).rowcount

    def set_disabled(self, username: str, disabled: bool) -> int:
        """Disable (ending every session) or enable a user; returns how many sessions ended."""
        with closing(self._connect()) as con, con:
            if not con.execute("UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username)).rowcount:
                raise ConfigError(f"no web user '{username}'", fix="see `parley users list`")
            return con.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount if disabled else 0

    def remove_user(self, username: str) -> int:
        """Delete a user and their sessions (their audit rows stay); returns how many sessions ended."""
        with closing(self._connect()) as con, con:
            ended = con.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount
            if not con.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount:
                raise ConfigError(f"no web user '{username}'", fix="see `parley users list`")
            return ended

    def list_users(self) -> list[dict]:
        """Every user with their live sessions and last login (never a password hash)."""
        rows = self._run(
            """SELECT u.username, u.role, u.team, u.disabled, u.created_at,
                      (SELECT count(*) FROM sessions s WHERE s.username = u.username AND s.expires_at > ?),
                      (SELECT max(at) FROM audit a WHERE a.username = u.username AND a.action = 'login')
               FROM users u ORDER BY u.username""",
            (_now().isoformat(),),
        )
        keys = ("username", "role", "team", "disabled", "created_at", "sessions", "last_login")
        return [dict(zip(keys, r)) for r in rows]

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
        """Record who viewed or exported what. Fields are cut to a bounded length (much shorter for
        requests without a login), so nobody can fill the file by sending huge values."""
        self._run("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)", self._audit_row(user, action, target, detail, client))

    def audit_once(self, user: User | None, action: str, target: str | None, window_s: float, detail: str | None = None, client: str | None = None) -> bool:
        """Audit unless the same user, action and target already has a row in the last ``window_s``
        seconds (checked and written in one SQLite transaction); True when a row was written."""
        row = self._audit_row(user, action, target, detail, client)
        since = (_now() - timedelta(seconds=window_s)).isoformat()
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                seen = con.execute(
                    "SELECT 1 FROM audit WHERE username IS ? AND action = ? AND target IS ? AND at > ? LIMIT 1", (row[1], action, row[4], since)
                ).fetchone()
                if not seen:
                    con.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)", row)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return not seen

    @staticmethod
    def _audit_row(user: User | None, action: str, target: str | None, detail: str | None, client: str | None) -> tuple:
        limits = AUDIT_LIMITS if user is not None else ANONYMOUS_AUDIT_LIMITS
        return (_now().isoformat(), _bounded(user.username if user else None, 200), user.role if user else None, _bounded(action, 40),
                _bounded(target, limits[0]), _bounded(detail, limits[1]), _bounded(client, 100))

    def audit_rows(self, limit: int = 200) -> list[tuple]:
        """The latest audit rows, newest first: (at, username, role, action, target, detail, client)."""
        return self._run("SELECT * FROM audit ORDER BY at DESC LIMIT ?", (limit,))


AUDIT_LIMITS = (1000, 20_000)
"""Longest target and detail kept in an audit row of a logged-in user (a long SQL query is cut)."""
ANONYMOUS_AUDIT_LIMITS = (120, 200)
"""... and of a request without a login (a failed login's user name)."""


def _bounded(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters, saying how long it was."""
    if value is None or len(value) <= limit:
        return value
    note = f"... ({len(value):,} characters)"
    return value[: max(0, limit - len(note))] + note


def add_user(db_path: str | Path, username: str, password: str, role: str, team: str | None = None) -> User:
    """Create or update a web user of the Parley database at ``db_path`` (for `parley users add`)."""
    return Accounts(accounts_path(db_path)).add_user(username, password, role, team)
