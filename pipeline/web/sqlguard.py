"""What the SQL page lets through: one read-only SELECT (or WITH ... SELECT), nothing that reads files.

Three layers: DuckDB's own parser must see exactly one SELECT statement; no token may name a
file-reading or statement-running function, a forbidden keyword, or a file as a table
(``FROM 'x.csv'``); and the query runs on a read-only connection with external access switched
off (``run_guarded``), so whatever slips past the first two still cannot touch the disk.
"""

from __future__ import annotations

import re
import threading
from typing import Any

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


def run_guarded(con: Any, sql: str, max_rows: int = MAX_ROWS, timeout_s: float = TIMEOUT_S) -> tuple[list[str], list[tuple], bool]:
    """Check and run ``sql`` on a read-only connection: (columns, rows, truncated).

    The query is interrupted after ``timeout_s``: while it runs, its read-only connection keeps
    the ingestion writer out of the database file.
    """
    query = check_select(sql)
    con.execute("SET enable_external_access = false")
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        cur = con.execute(query)
        columns = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchmany(max_rows + 1)
    except duckdb.InterruptException as exc:
        raise RejectedQuery(f"the query ran longer than {timeout_s:g} s and was stopped", fix="narrow it (a WHERE on started_at, fewer joins) or use `parley sql` at a quiet time") from exc
    finally:
        timer.cancel()
    return columns, rows[:max_rows], len(rows) > max_rows
