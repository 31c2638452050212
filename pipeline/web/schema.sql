-- Parley web app: local users, server-side sessions and the audit trail (SQLite, beside the
-- DuckDB file as NAME.web.sqlite). Kept out of the DuckDB file so that logging in, and the
-- audit row written on every view, never take the DuckDB write lock that ingestion needs.

CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,          -- argon2id (argon2-cffi PasswordHasher)
    role          TEXT NOT NULL CHECK (role IN ('admin', 'compliance', 'team_lead')),
    team          TEXT,                   -- recordings.team a team lead may see (NULL for others)
    created_at    TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS sessions (
    token_hash    TEXT PRIMARY KEY,       -- sha256 of the cookie token; the token itself is never stored
    username      TEXT NOT NULL REFERENCES users(username),
    csrf          TEXT NOT NULL,          -- must come back with every POST
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    at            TEXT NOT NULL,          -- UTC, ISO 8601
    username      TEXT,
    role          TEXT,
    action        TEXT NOT NULL,          -- login, login_failed, logout, view, audio, export, search, sql
    target        TEXT,                   -- page, recording id, staff id or query name
    detail        TEXT,                   -- query text, filters, row count
    client        TEXT
);

CREATE INDEX IF NOT EXISTS audit_at ON audit(at);

-- Wrong passwords, for login throttling (pipeline/web/throttle.py): one row per failure per key,
-- 'user:<sha256 of the name>' and 'addr:<client address>'; rows older than the window are pruned.
CREATE TABLE IF NOT EXISTS login_failures (
    key           TEXT NOT NULL,
    at            REAL NOT NULL           -- seconds since the epoch
);

CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures(key, at);
CREATE INDEX IF NOT EXISTS audit_who ON audit(username, action, target, at);
