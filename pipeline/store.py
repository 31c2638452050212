"""The only DuckDB writer. Migrations, one transaction per recording, lock-aware connections.

DuckDB lets one process hold a read-write connection, and while it does no other process can
open the file at all; so every connection here is opened for one write or one query and closed
at once, and opening retries with backoff while another process holds the lock.
"""

from __future__ import annotations

import json
import random
import threading
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb

from .errors import ConfigError, TransientError

SQL_DIR = Path(__file__).resolve().parent / "sql"
HISTORY_TABLES = ("recordings", "runs", "drops", "errors")
"""Tables that keep history: never cleared when a recording is reprocessed."""
VERSIONED_KEYS: dict[str, tuple[str, ...]] = {
    "scorecards": ("rubric_id", "rubric_version"),
    "scorecard_lines": ("rubric_id", "rubric_version"),
}
"""Per-recording tables whose rows are replaced only for the same key (other versions stay)."""

REDACTION_SPANS = "SELECT start_s, end_s FROM redactions WHERE recording_id = ? ORDER BY start_s"
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked", "lock on file")
_DISK_MARKERS = ("No space left on device", "Disk quota exceeded", "Read-only file system")
_migrated: set[str] = set()


def table_names(con, database: str | None = None) -> set[str]:
    """Names of the tables in the main schema of ``database``: by default the connection's current
    database (the Parley database it opened), not a database attached beside it nor its
    temporary tables (``database="temp"`` lists those). A reader may open a database that an
    older Parley, or no stage yet, wrote some tables of."""
    where = "database_name = ?" if database else "database_name = current_database()"
    rows = con.execute(f"SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND {where}",
                       [database] if database else []).fetchall()
    return {r[0] for r in rows}


class _FileLock:
    """Per database file, per process: many read-only connections at once, or one read-write.

    DuckDB refuses a read-only and a read-write connection to the same file in one process at the
    same time; readers (the web app's requests, the Processor's look-ups) share, a writer waits for
    them and then has the file alone. A thread holding the write side may open more connections.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0

    @contextmanager
    def hold(self, shared: bool) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
            elif shared:
                self._cond.wait_for(lambda: self._writer is None)
                self._readers += 1
            else:
                self._cond.wait_for(lambda: self._writer is None and self._readers == 0)
                self._writer, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                if self._writer == me:
                    self._depth -= 1
                    if self._depth == 0:
                        self._writer = None
                else:
                    self._readers -= 1
                self._cond.notify_all()


_file_locks: dict[str, _FileLock] = {}
_file_locks_guard = threading.Lock()


def _file_lock(path: Path) -> _FileLock:
    key = str(path.resolve())
    with _file_locks_guard:
        return _file_locks.setdefault(key, _FileLock())


def _is_lock_error(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]


class Store:
    """A DuckDB database file. Cheap to create; holds no connection between calls."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 60.0, *, create: bool = True):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.create = create
        """False: a write to a database that does not exist is refused (commands other than
        process/watch never make one: a typo in --db must not leave an empty database behind)."""
        self.waited_s = 0.0
        """Seconds spent waiting for other processes' locks (for the runs table and the README)."""

    # -- connections -----------------------------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open, yield, close. Retries while another process holds the file."""
        if (read_only or not self.create) and not self.path.exists():
            raise ConfigError(f"there is no database at {self.path}", fix="check --db / PARLEY_DB (a typo?), or process some recordings first (`parley process`)", path=self.path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.path).hold(shared=read_only):
            yield from self._connected(read_only)

    def _connected(self, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open(read_only)
        try:
            if not read_only:
                self._migrate(con)
            yield con
        except duckdb.Error as exc:
            if not any(marker in str(exc) for marker in _DISK_MARKERS):
                raise
            raise TransientError(
                f"cannot write the database {self.path} ({str(exc).splitlines()[0]})",
                fix="free disk space where the database lives (or move it: PARLEY_DB); the recording goes back to the inbox and is retried",
                path=self.path,
                stage="store",
            ) from exc
        finally:
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        start = time.monotonic()
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                self.waited_s += time.monotonic() - start
                return con
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc):
                    raise
                waited = time.monotonic() - start
                if waited > self.lock_timeout_s:
                    raise TransientError(
                        f"the database is held by another process and stayed locked for {waited:.0f} s",
                        fix="wait and retry; a long query in another program may be holding it",
                        path=self.path,
                        stage="store",
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        key = str(self.path.resolve())
        if key in _migrated:
            return
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER, name VARCHAR, applied_at TIMESTAMP)")
        done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in migrations():
            if version in done:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
                con.execute("COMMIT")
            except Exception:
                _rollback(con)
                raise
        _migrated.add(key)

    # -- writing ---------------------------------------------------------------------------
    def write_recording(
        self,
        recording: dict[str, Any] | None,
        tables: dict[str, list[dict[str, Any]]],
        *,
        recording_id: str,
        run: dict[str, Any] | None = None,
        drop: dict[str, Any] | None = None,
        replace_all: bool = True,
    ) -> None:
        """Write one recording's rows in one transaction, replacing what it had before.

        ``replace_all``: clear every derived per-recording table (a full reprocess); otherwise
        only the tables given (e.g. a re-tag). Rows get ``recording_id`` and ``run_id`` filled in.
        """
        run_id = (run or {}).get("run_id") or (recording or {}).get("run_id")
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                cleared = self.replaced_tables(con, list(tables), replace_all)
                for table in cleared:
                    self._clear(con, table, recording_id, tables.get(table, []))
                inserted = {}  # the rows as stored (INSERT ... RETURNING), for the chain entry
                if recording is not None:
                    con.execute("DELETE FROM recordings WHERE id = ?", [recording_id])
                    inserted["recordings"] = _insert(con, "recordings", [recording], returning=True)
                for table, rows in tables.items():
                    inserted[table] = _insert(con, table, [{**row, "recording_id": recording_id, "run_id": row.get("run_id", run_id)} for row in rows], returning=True)
                if run is not None:
                    _insert(con, "runs", [run])
                if drop is not None:
                    _insert(con, "drops", [drop])
                _seal_write(con, recording_id, replace_all, cleared, inserted, run_id)
                con.execute("COMMIT")
            except Exception:
                _rollback(con)
                raise

    def _clear(self, con, table: str, recording_id: str, new_rows: list[dict]) -> None:
        keys = VERSIONED_KEYS.get(table)
        if not keys:
            con.execute(f'DELETE FROM "{table}" WHERE recording_id = ?', [recording_id])
            return
        for values in {tuple(row.get(k) for k in keys) for row in new_rows}:
            where = " AND ".join(f'"{k}" = ?' for k in keys)
            con.execute(f'DELETE FROM "{table}" WHERE recording_id = ? AND {where}', [recording_id, *values])

    @classmethod
    def replaced_tables(cls, con, given: list[str], replace_all: bool) -> list[str]:
        """Tables a recording's write clears first: on a full reprocess every derived table plus
        the versioned tables it brings rows for (those only for the versions it brings), else
        just the tables given."""
        return [*cls.derived_tables(con), *(t for t in given if t in VERSIONED_KEYS)] if replace_all else list(given)

    @staticmethod
    def derived_tables(con) -> list[str]:
        """Per-recording tables (they have a recording_id column), history and versioned ones aside."""
        rows = con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'recording_id' AND table_schema = 'main'"
        ).fetchall()
        return sorted(r[0] for r in rows if r[0] not in HISTORY_TABLES and r[0] not in VERSIONED_KEYS)

    def append(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Append rows (drops, errors, runs; or a recording's, e.g. its archived files) in one transaction."""
        if not rows:
            return
        with self.connect() as con:
            if table in HISTORY_TABLES or not any(row.get("recording_id") for row in rows):
                _insert(con, table, rows)
                return
            con.execute("BEGIN TRANSACTION")
            try:
                _insert(con, table, rows)
                from .governance.chain import appended

                appended(con, table, sorted({row["recording_id"] for row in rows}))  # the tamper-evident chain
                con.execute("COMMIT")
            except Exception:
                _rollback(con)
                raise

    def record_error(self, row: dict[str, Any], repeat_window_s: float = 86400.0) -> None:
        """Add an ``errors`` row; a transient error that repeats one seen within
        ``repeat_window_s`` (same file, folder, recording, stage and message) counts another
        attempt on that row instead of adding one (migration 0009)."""
        now = _sql_value(row.get("occurred_at") or datetime.now(timezone.utc))
        with self.connect() as con:
            if row.get("kind") == "transient":
                hit = con.execute(
                    """SELECT error_id FROM errors WHERE kind = 'transient' AND message = ?
                       AND source_name IS NOT DISTINCT FROM ? AND source_path IS NOT DISTINCT FROM ?
                       AND recording_id IS NOT DISTINCT FROM ? AND stage IS NOT DISTINCT FROM ?
                       AND coalesce(last_attempt_at, occurred_at) >= ?::TIMESTAMP - to_seconds(?)
                       ORDER BY occurred_at DESC LIMIT 1""",
                    [row.get("message"), row.get("source_name"), row.get("source_path"), row.get("recording_id"), row.get("stage"), now, repeat_window_s],
                ).fetchone()
                if hit:
                    con.execute("UPDATE errors SET attempts = coalesce(attempts, 1) + 1, last_attempt_at = ? WHERE error_id = ?", [now, hit[0]])
                    return
            _insert(con, "errors", [{**row, "attempts": 1, "last_attempt_at": now}])

    def merge_metadata(self, recording_id: str, fields: dict[str, Any], extra: dict[str, Any], source: str) -> list[str]:
        """Fill the stored recording's empty metadata columns from ``fields`` and add the keys of
        ``extra`` it lacks (a duplicate's sidecar); values it has are kept. Returns what was filled."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                filled = merge_metadata(con, recording_id, fields, extra, source)
                con.execute("COMMIT")
            except Exception:
                _rollback(con)
                raise
            return filled

    def execute(self, sql: str, params: list | None = None) -> None:
        with self.connect() as con:
            con.execute(sql, params or [])

    # -- reading ---------------------------------------------------------------------------
    def query(self, sql: str, params: list | None = None) -> QueryResult:
        """Run one read-only query and close the connection at once."""
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params or [])
            columns = [d[0] for d in cur.description] if cur.description else []
            return QueryResult(columns, cur.fetchall())

    def redaction_spans(self, recording_id: str) -> list[tuple[float, float]]:
        """Redacted (start, end) spans of a stored recording, to silence its archived copy."""
        return [tuple(r) for r in self.query(REDACTION_SPANS, [recording_id]).rows]

    def recording_state(self, recording_id: str) -> tuple[str, str | None] | None:
        """(status, archive_path) of a stored recording, or None."""
        if not self.path.exists():
            return None
        with self.connect(read_only=True) as con:
            if "recordings" not in table_names(con):
                return None
            row = con.execute("SELECT status, archive_path FROM recordings WHERE id = ? ORDER BY processed_at DESC LIMIT 1", [recording_id]).fetchone()
        return (row[0], row[1]) if row else None


METADATA_COLUMNS = ("staff_id", "team", "site", "channel", "direction", "customer_ref", "started_at", "n_speakers")


def merge_metadata(con, recording_id: str, fields: dict[str, Any], extra: dict[str, Any], source: str) -> list[str]:
    """``Store.merge_metadata`` on an open read-write connection."""
    cols = [c for c in METADATA_COLUMNS if fields.get(c) not in (None, "")]
    stored = con.execute(
        f"SELECT {', '.join([*cols, 'metadata_extra', 'metadata_source'])} FROM recordings WHERE id = ? ORDER BY processed_at DESC LIMIT 1",
        [recording_id],
    ).fetchone()
    if stored is None:
        return []
    filled = [c for c, value in zip(cols, stored) if value is None]
    old_extra = json.loads(stored[-2]) if stored[-2] else {}
    new_keys = [k for k in extra if k not in old_extra]
    if not filled and not new_keys:
        return []
    sets = [f'"{c}" = ?' for c in filled] + ["metadata_extra = ?", "metadata_source = ?"]
    merged_extra = {**old_extra, **{k: extra[k] for k in new_keys}} or None
    was = stored[-1]
    new_source = source if was in (None, "", "none") else was if source in was.split("+") else f"{was}+{source}"
    con.execute(
        f"UPDATE recordings SET {', '.join(sets)} WHERE id = ?",
        [*(_sql_value(fields[c]) for c in filled), _sql_value(merged_extra) if merged_extra else None, new_source, recording_id],
    )
    from .governance.chain import seal

    seal(con, [recording_id], "update", changed=["recordings"])  # a lawful change: the chain records it
    return filled + (["metadata_extra"] if new_keys else [])


def _seal_write(con, recording_id: str, replace_all: bool, cleared: list[str], inserted: dict, run_id: str | None) -> None:
    """Append the tamper-evident chain entry of this write (pipeline/governance/chain.py). The
    recording's rows in the tables it cleared are exactly those it inserted (versioned tables
    aside: other versions stay), so those are hashed as inserted, without reading the tables."""
    from .governance.chain import seal

    known = {t: ([], []) for t in cleared if t not in VERSIONED_KEYS}
    known |= {t: rows for t, rows in inserted.items() if rows and t not in VERSIONED_KEYS}
    changed = None if replace_all else [*cleared, *inserted]
    seal(con, [recording_id], "store" if replace_all else "update", changed=changed, run_id=run_id, rows=known)


def _rollback(con) -> None:
    """Roll back if a transaction is still open (a failed COMMIT has already ended it)."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def migrations() -> list[tuple[int, str, str]]:
    out = []
    for path in sorted(SQL_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        out.append((int(path.name[:4]), path.stem, path.read_text()))
    return out


def _insert(con, table: str, rows: list[dict[str, Any]], returning: bool = False) -> tuple[list[str], list[tuple]] | None:
    """Insert many rows fast: one ``INSERT ... SELECT unnest(...)`` per table, not row by row.
    ``returning``: give back the rows as stored, (columns, rows)."""
    if not rows:
        return None
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for col in columns:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", col):
            raise ValueError(f"bad column name {col!r}")
    values = [[_sql_value(row.get(col)) for row in rows] for col in columns]
    tail = " RETURNING *" if returning else ""
    if len(rows) == 1:
        placeholders = ", ".join("?" for _ in columns)
        cur = con.execute(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({placeholders}){tail}', [v[0] for v in values])
    else:
        select = ", ".join(f"unnest(${i + 1}) AS c{i}" for i in range(len(columns)))
        cur = con.execute(f'INSERT INTO "{table}" ({", ".join(columns)}) SELECT {select}{tail}', values)
    return ([d[0] for d in cur.description], cur.fetchall()) if returning else None


def json_text(value: Any, places: int = 4) -> str:
    """JSON for a stored column, floats rounded (full float precision is noise, and a 17-digit
    fraction would look like a card number to anyone auditing the database)."""

    def rounded(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, places)
        if isinstance(v, dict):
            return {k: rounded(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [rounded(x) for x in v]
        return v

    return json.dumps(rounded(value), default=str, sort_keys=True)


def _sql_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json_text(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, Path):
        return str(value)
    return value


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
