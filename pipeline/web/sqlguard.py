"""What the SQL page lets through: one read-only SELECT (or WITH ... SELECT), nothing that reads files.

Three layers: DuckDB's own parser must see exactly one SELECT statement; no token may name a
file-reading or statement-running function, a forbidden keyword, or a file as a table
(``FROM 'x.csv'``); and the query runs on a read-only connection with external access switched
off (``run_guarded``), so whatever slips past the first two still cannot touch the disk.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb

from ..errors import ParleyError

FORBIDDEN_KEYWORDS = {"attach", "detach", "copy", "install", "load", "pragma", "set", "reset", "call", "export", "import", "checkpoint", "vacuum", "insert", "update", "delete", "create", "drop", "alter", "truncate", "merge", "use"}
FORBIDDEN_FUNCTIONS = re.compile(
    r"^(read_\w*|parquet_\w*|sniff_csv|glob|query|query_table|getenv|st_read\w*|delta_scan|iceberg_\w*|"
    r"sqlite_\w*|postgres_\w*|mysql_\w*|excel_\w*|http_\w*|duckdb_secrets|which_secret|load_aws_credentials)$",
    re.IGNORECASE,
)
MAX_ROWS = 5000
TIMEOUT_S = 15.0
"""A SQL-page query is stopped after this long, so it cannot hold ingestion up for longer."""


class RejectedQuery(ParleyError):
    """A query the SQL page refuses to run."""


def check_select(sql: str) -> str:
    """Return the one statement in ``sql`` when it is a plain SELECT; raise RejectedQuery otherwise."""
    fix = "write one SELECT (or WITH ... SELECT) over the Parley tables"
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise RejectedQuery(f"the query does not parse: {str(exc).splitlines()[0]}", fix=fix) from exc
    if len(statements) != 1:
        raise RejectedQuery(f"the query has {len(statements)} statements", fix=fix)
    if statements[0].type != duckdb.StatementType.SELECT:
        raise RejectedQuery(f"only SELECT is allowed here, not {statements[0].type.name}", fix=fix)
    tokens = _tokens(sql)
    for i, (kind, text) in enumerate(tokens):
        word = text.strip('"').lower()
        if kind in ("KEYWORD", "IDENTIFIER") and word in FORBIDDEN_KEYWORDS:
            raise RejectedQuery(f"'{text}' is not allowed on the SQL page", fix=fix)
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind in ("IDENTIFIER", "KEYWORD") and following == "(" and FORBIDDEN_FUNCTIONS.match(word):
            raise RejectedQuery(f"the function {text}() reads files or runs statements and is not allowed", fix=fix)
        if kind == "STRING_CONST" and i > 0 and tokens[i - 1][1].lower() in ("from", "join"):
            raise RejectedQuery(f"reading the file {text} is not allowed", fix=fix)
    return statements[0].query.strip().rstrip(";")


def _tokens(sql: str) -> list[tuple[str, str]]:
    """(token type, text) pairs from DuckDB's tokenizer, comments dropped."""
    spans = duckdb.tokenize(sql)
    out = []
    for n, (start, kind) in enumerate(spans):
        end = spans[n + 1][0] if n + 1 < len(spans) else len(sql)
        name = kind.name.upper()
        if name != "COMMENT":
            out.append((name, sql[start:end].strip()))
    return out


MAX_BYTES = 4_000_000
"""Largest result (bytes of cell text) a SQL-page query returns; the rest is cut off."""
CHUNK_ROWS = 200


def run_guarded(con: Any, sql: str, max_rows: int = MAX_ROWS, timeout_s: float = TIMEOUT_S, max_bytes: int = MAX_BYTES,
                deadline: float | None = None) -> tuple[list[str], list[tuple], str | bool]:
    """Check and run ``sql`` on a read-only connection: (columns, rows, truncated), where
    truncated is False, "rows" (more than ``max_rows``) or "bytes" (more than ``max_bytes``).

    The query is interrupted after ``timeout_s`` (or at ``deadline``, a ``time.monotonic()``
    value, whichever is first), fetching included: while it runs, its read-only connection keeps
    the ingestion writer out of the database file. Rows are fetched a few at a time and counted
    in bytes, so a result of a few huge cells stops as early as one of many rows.
    """
    query = check_select(sql)
    con.execute("SET enable_external_access = false")
    deadline = min(deadline or float("inf"), time.monotonic() + timeout_s)
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), con.interrupt)
    timer.start()
    rows: list[tuple] = []
    truncated: str | bool = False
    try:
        cur = con.execute(query)
        columns = [d[0] for d in cur.description] if cur.description else []
        size = 0
        while len(rows) <= max_rows and (chunk := cur.fetchmany(CHUNK_ROWS)):
            if time.monotonic() > deadline:
                raise duckdb.InterruptException("deadline")
            for row in chunk:
                size += sum(_cell_bytes(v) for v in row)
                if size > max_bytes:
                    truncated = "bytes"
                    break
                rows.append(row)
            if truncated:
                break
    except duckdb.InterruptException as exc:
        raise RejectedQuery(f"the query ran longer than {timeout_s:g} s and was stopped", fix="narrow it (a WHERE on started_at, fewer joins) or use `parley sql` at a quiet time") from exc
    except duckdb.OutOfMemoryException as exc:
        raise RejectedQuery("the query needed more memory than the SQL page allows and was stopped", fix="narrow it or aggregate more, or use `parley sql`") from exc
    finally:
        timer.cancel()
    if len(rows) > max_rows:
        rows, truncated = rows[:max_rows], "rows"
    return columns, rows, truncated


def _cell_bytes(value: Any) -> int:
    if value is None or isinstance(value, (bool, int, float)):
        return 8
    if isinstance(value, (str, bytes)):
        return len(value)
    return len(str(value))


@contextmanager
def limited_connection(path: str | Path, memory_limit: str, threads: int) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one SQL-page query: its own DuckDB instance with ``memory_limit`` and
    ``threads`` (settings of the instance, so the app's other connections keep theirs), no
    spilling to disk, and the database attached read-only as the default catalog."""
    con = duckdb.connect(":memory:", config={"memory_limit": memory_limit, "threads": threads, "temp_directory": ""})
    try:
        con.execute(f"ATTACH {_literal(path)} AS parley (READ_ONLY)")
        con.execute("USE parley")
        yield con
    finally:
        con.close()


def _literal(path: str | Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class SqlSlots:
    """How many SQL-page queries run at once: at most ``per_user`` for one user, ``total`` for all."""

    def __init__(self, per_user: int, total: int):
        self.per_user, self.total = per_user, total
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    @contextmanager
    def slot(self, username: str) -> Iterator[None]:
        with self._lock:
            if self._running.get(username, 0) >= self.per_user:
                raise Busy(f"you already have {self.per_user} SQL queries running", fix="wait for one to finish (each stops after the page's time limit)")
            if sum(self._running.values()) >= self.total:
                raise Busy(f"the server is already running {self.total} SQL queries", fix="try again in a few seconds")
            self._running[username] = self._running.get(username, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._running[username] -= 1
                if not self._running[username]:
                    del self._running[username]


class Busy(ParleyError):
    """Too many SQL-page queries running: answered 429."""
