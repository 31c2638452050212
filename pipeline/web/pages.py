"""The pages: overview, staff scorecards, consistency, complaints register (+ export), interaction (+ audio, export), search, SQL, audit.

Handlers are plain ``def`` (FastAPI runs them in a thread pool). Each opens one read-only DuckDB
connection for the request and closes it before rendering, so ingestion is never held up for
longer than the queries take. Anything outside a team lead's team answers 404, the same as an
id that does not exist.
"""

from __future__ import annotations

import duckdb

import csv
import io
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..queries import NAMED_QUERIES
from . import data
from .accounts import User
from .auth import check_csrf, compliance_user, current_user
from .sqlguard import Busy, RejectedQuery, limited_connection, run_guarded

router = APIRouter()


@contextmanager
def reader(request: Request) -> Iterator[Any]:
    """A read-only connection for this request, with stand-ins for tables not created yet."""
    with request.app.state.store.connect(read_only=True) as con:
        data.ensure_tables(con)
        yield con


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, template, {"user": request.state.user, "csrf": request.state.csrf, **context})


def audit(request: Request, user: User, action: str, target: str | None = None, detail: str | None = None) -> None:
    request.app.state.accounts.audit(user, action, target, detail, request.client.host if request.client else None)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is a formula to a spreadsheet (CSV injection)."""
AUDIO_AUDIT_WINDOW_S = 600.0
"""Playing (and seeking in) a recording is audited once per user and recording in this many seconds."""


def neutralise(value):
    """A text cell a spreadsheet would run as a formula, prefixed with ' so it shows as text."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def safe_filename(name: str, default: str = "export") -> str:
    """A download's file name: letters, digits, '.', '-' and '_' only, at most 80 characters."""
    cleaned = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "_", name)).strip("._")[:80]
    return cleaned or default


def csv_response(columns: list[str], rows: list[tuple], filename: str) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([neutralise(c) for c in columns])
    writer.writerows([neutralise(v) for v in row] for row in rows)
    name = safe_filename(filename.removesuffix(".csv")) + ".csv"
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, user: User = Depends(current_user)) -> Response:
    filters = data.Filters.from_query(dict(request.query_params))
    with reader(request) as con:
        found = data.overview(con, user.scope, filters)
    audit(request, user, "view", "overview", str(request.query_params) or None)
    return render(request, "overview.html", filters=filters, **found)


@router.get("/staff", response_class=HTMLResponse)
def staff_page(request: Request, user: User = Depends(current_user)) -> Response:
    with reader(request) as con:
        found = data.staff_table(con, user.scope)
    audit(request, user, "view", "staff")
    return render(request, "staff_list.html", **found)


@router.get("/staff/{staff_id}", response_class=HTMLResponse)
def staff_detail_page(staff_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    with reader(request) as con:
        found = data.staff_detail(con, user.scope, staff_id)
    if found is None:
        raise HTTPException(404, f"no staff member {staff_id} in your view")
    audit(request, user, "view", f"staff:{staff_id}")
    return render(request, "staff.html", **found)


@router.get("/consistency", response_class=HTMLResponse)
def consistency_page(request: Request, user: User = Depends(current_user)) -> Response:
    with reader(request) as con:
        found = data.consistency(con, user.scope)
    audit(request, user, "view", "consistency")
    return render(request, "consistency.html", **found)


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(request: Request, since: str = "", open: str = "", user: User = Depends(current_user)) -> Response:
    with reader(request) as con:
        found = data.complaints(con, user.scope, since.strip(), open_only=bool(open))
    audit(request, user, "view", "complaints", str(request.query_params) or None)
    return render(request, "complaints.html", complaints=found, since=since.strip(), open_only=bool(open))


@router.get("/complaints/export.csv")
def complaints_export(request: Request, since: str = "", open: str = "", user: User = Depends(current_user)) -> Response:
    with reader(request) as con:
        found = data.complaints(con, user.scope, since.strip(), open_only=bool(open))
    audit(request, user, "export", "complaints", f"{len(found)} complaints")
    columns = list(found[0]) if found else ["recording_id"]
    return csv_response(columns, [tuple(r.values()) for r in found], "complaints-register.csv")


def _interaction(request: Request, user: User, recording_id: str) -> dict[str, Any]:
    with reader(request) as con:
        found = data.interaction(con, user.scope, recording_id)
    if found is None:
        raise HTTPException(404, "no such interaction in your view")
    return found


@router.get("/interaction/{recording_id}", response_class=HTMLResponse)
def interaction_page(recording_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    found = _interaction(request, user, recording_id)
    audit(request, user, "view", f"interaction:{recording_id}")
    return render(request, "interaction.html", **found)


@router.get("/interaction/{recording_id}/export.csv")
def interaction_export(recording_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    _interaction(request, user, recording_id)
    with reader(request) as con:
        columns, rows = data.transcript_rows(con, recording_id)
    audit(request, user, "export", f"interaction:{recording_id}", f"{len(rows)} utterances")
    return csv_response(columns, rows, f"interaction-{recording_id[:12]}.csv")


@router.get("/audio/{recording_id}")
def audio(recording_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    """The archived (redacted) recording, with HTTP range support so the player can seek."""
    found = _interaction(request, user, recording_id)
    path = Path(found["rec"]["archive_path"] or "")
    if not found["rec"]["archive_path"] or not path.is_file():
        raise HTTPException(404, "the archived recording is not on disk")
    request.app.state.accounts.audit_once(  # whatever the Range header: every play, seek or download
        user, "audio", f"interaction:{recording_id}", AUDIO_AUDIT_WINDOW_S, request.headers.get("range"), request.client.host if request.client else None
    )
    return FileResponse(path, headers={"Cache-Control": "private, no-store"})


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = "", role: str = "", team: str = "", staff: str = "", user: User = Depends(current_user)) -> Response:
    results: list[dict[str, Any]] = []
    if q.strip():
        with reader(request) as con:
            results = data.search(con, user.scope, q, role=role, team=team, staff=staff)
        audit(request, user, "search", None, q)
    return render(request, "search.html", q=q, role=role, team=team, staff=staff, results=results)


def _run_sql(request: Request, user: User, sql: str, deadline: float) -> tuple[list[str], list[tuple], str | bool]:
    """Run a SQL-page query within the settings' limits: a slot of the user's few, its own DuckDB
    instance (memory, threads), the time limit up to ``deadline`` and the size cap."""
    s = request.app.state.settings
    # the Store's read-only connection waits (and retries) while another process writes the file
    with request.app.state.sql_slots.slot(user.username), request.app.state.store.connect(read_only=True):
        with limited_connection(s.db, s.web_sql_memory, s.web_sql_threads) as con:
            data.ensure_tables(con)  # the file is attached as "parley" and in use: its tables, as in ``reader``
            return run_guarded(con, sql, timeout_s=s.web_sql_timeout_s, max_bytes=s.web_sql_max_bytes, deadline=deadline)


@router.get("/sql", response_class=HTMLResponse)
def sql_page(request: Request, name: str = "", user: User = Depends(compliance_user)) -> Response:
    if name and name not in NAMED_QUERIES:
        raise HTTPException(404, f"no named query '{name}'")
    sql = NAMED_QUERIES[name].sql.strip() if name else ""
    return _sql_result(request, user, sql, name)


@router.post("/sql", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def sql_run(request: Request, sql: str = Form(""), user: User = Depends(compliance_user)) -> Response:
    return _sql_result(request, user, sql, "")


def _sql_result(request: Request, user: User, sql: str, name: str) -> Response:
    started = time.monotonic()
    deadline = started + request.app.state.settings.web_sql_timeout_s  # the query, its rows and the page
    columns: list[str] = []
    rows: list[tuple] = []
    truncated, error = False, ""
    if sql.strip():
        try:
            columns, rows, truncated = _run_sql(request, user, sql, deadline)
        except Busy as exc:
            audit(request, user, "sql", name or None, f"REFUSED (busy) {sql}")
            raise HTTPException(429, str(exc)) from exc
        except RejectedQuery as exc:
            error = str(exc)
        except duckdb.Error as exc:  # a query error is the user's to see and fix, not a crash
            error = str(exc).splitlines()[0]
        audit(request, user, "sql", name or None, sql if not error else f"REJECTED {sql}")
    limit_kb = request.app.state.settings.web_sql_max_bytes // 1000
    response = render(request, "sql.html", sql=sql, name=name, columns=columns, rows=rows, truncated=truncated, error=error, queries=NAMED_QUERIES, limit_kb=limit_kb)
    if time.monotonic() > deadline and not error:  # building the page counts too
        error = f"the query and its page took longer than {request.app.state.settings.web_sql_timeout_s:g} s and were stopped. Fix: narrow it (fewer rows or columns)"
        response = render(request, "sql.html", sql=sql, name=name, columns=[], rows=[], truncated=False, error=error, queries=NAMED_QUERIES, limit_kb=limit_kb)
    response.status_code = 400 if error else 200
    return response


@router.post("/sql/export.csv", dependencies=[Depends(check_csrf)])
def sql_export(request: Request, sql: str = Form(""), name: str = Form(""), user: User = Depends(compliance_user)) -> Response:
    try:
        columns, rows, truncated = _run_sql(request, user, sql, time.monotonic() + request.app.state.settings.web_sql_timeout_s)
    except Busy as exc:
        raise HTTPException(429, str(exc)) from exc
    except (RejectedQuery, duckdb.Error) as exc:  # a busy database (TransientError) is a 503 elsewhere
        audit(request, user, "export", name or "sql", f"REJECTED {sql}")
        raise HTTPException(400, str(exc).splitlines()[0]) from exc
    audit(request, user, "export", name or "sql", f"{len(rows)} rows{' (cut off: ' + truncated + ')' if truncated else ''}: {sql}")
    return csv_response(columns, rows, f"{name or 'query'}.csv")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: User = Depends(compliance_user)) -> Response:
    rows = request.app.state.accounts.audit_rows(300)
    return render(request, "audit.html", rows=rows)
