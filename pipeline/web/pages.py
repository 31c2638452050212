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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..queries import NAMED_QUERIES
from . import data
from .accounts import User
from .auth import check_csrf, compliance_user, current_user
from .sqlguard import RejectedQuery, run_guarded

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


def csv_response(columns: list[str], rows: list[tuple], filename: str) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows(rows)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


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
    if request.headers.get("range", "bytes=0-").startswith("bytes=0-"):
        audit(request, user, "audio", f"interaction:{recording_id}")
    return FileResponse(path, headers={"Cache-Control": "private, no-store"})


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = "", role: str = "", team: str = "", staff: str = "", user: User = Depends(current_user)) -> Response:
    results: list[dict[str, Any]] = []
    if q.strip():
        with reader(request) as con:
            results = data.search(con, user.scope, q, role=role, team=team, staff=staff)
        audit(request, user, "search", None, q)
    return render(request, "search.html", q=q, role=role, team=team, staff=staff, results=results)


def _run_sql(request: Request, sql: str) -> tuple[list[str], list[tuple], bool]:
    with reader(request) as con:
        return run_guarded(con, sql)


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
    columns: list[str] = []
    rows: list[tuple] = []
    truncated, error = False, ""
    if sql.strip():
        try:
            columns, rows, truncated = _run_sql(request, sql)
        except RejectedQuery as exc:
            error = str(exc)
        except duckdb.Error as exc:  # a query error is the user's to see and fix, not a crash
            error = str(exc).splitlines()[0]
        audit(request, user, "sql", name or None, sql if not error else f"REJECTED {sql}")
    status = 400 if error else 200
    response = render(request, "sql.html", sql=sql, name=name, columns=columns, rows=rows, truncated=truncated, error=error, queries=NAMED_QUERIES)
    response.status_code = status
    return response


@router.post("/sql/export.csv", dependencies=[Depends(check_csrf)])
def sql_export(request: Request, sql: str = Form(""), name: str = Form(""), user: User = Depends(compliance_user)) -> Response:
    try:
        columns, rows, _ = _run_sql(request, sql)
    except (RejectedQuery, duckdb.Error) as exc:  # a busy database (TransientError) is a 503 elsewhere
        audit(request, user, "export", name or "sql", f"REJECTED {sql}")
        raise HTTPException(400, str(exc).splitlines()[0]) from exc
    audit(request, user, "export", name or "sql", f"{len(rows)} rows: {sql}")
    return csv_response(columns, rows, f"{name or 'query'}.csv")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: User = Depends(compliance_user)) -> Response:
    rows = request.app.state.accounts.audit_rows(300)
    return render(request, "audit.html", rows=rows)
