"""The web app: ``create_app(settings)`` builds it, ``serve(settings)`` runs it with uvicorn."""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from ..errors import ParleyError, TransientError
from ..settings import Settings
from ..store import Store
from . import charts
from .accounts import Accounts, accounts_path
from .auth import router as auth_router
from .auth import security_headers, session_middleware
from .pages import router as pages_router
from .sqlguard import SqlSlots
from .throttle import LoginThrottle

HERE = Path(__file__).resolve().parent
WEB_LOCK_TIMEOUT_S = 10.0
"""A page waits at most this long for a writer holding the database, then answers 503."""


def create_app(settings: Settings) -> FastAPI:
    """The Parley web app over ``settings.db`` (users/sessions/audit in ``NAME.web.sqlite`` beside it)."""
    app = FastAPI(title="Parley", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = Store(settings.db, lock_timeout_s=min(settings.db_lock_timeout_s, WEB_LOCK_TIMEOUT_S))
    app.state.accounts = Accounts(accounts_path(settings.db))
    app.state.throttle = LoginThrottle(
        app.state.accounts.path, slow_after=settings.web_login_slow_after, lock_after=settings.web_login_lock_after,
        window_s=settings.web_login_window_s, lock_s=settings.web_login_lock_s,
    )
    app.state.sql_slots = SqlSlots(settings.web_sql_per_user, settings.web_sql_total)
    app.state.templates = _templates()
    app.middleware("http")(session_middleware)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(auth_router)
    app.include_router(pages_router)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ParleyError, _parley_error)
    app.add_exception_handler(Exception, _internal_error)  # answered outside the middleware: headers added here
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the app until stopped (`parley serve`). Binds to loopback unless told otherwise."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False, server_header=False)


def _error_page(request: Request, status: int, message: str) -> Response:
    if getattr(request.state, "user", None) is None or "text/html" not in request.headers.get("accept", ""):
        return PlainTextResponse(message, status_code=status)
    response = request.app.state.templates.TemplateResponse(
        request, "error.html", {"user": request.state.user, "csrf": request.state.csrf, "status": status, "message": message}
    )
    response.status_code = status
    return response


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error_page(request, exc.status_code, str(exc.detail))


async def _parley_error(request: Request, exc: ParleyError) -> Response:
    return _error_page(request, 503 if isinstance(exc, TransientError) else 400, exc.one_line())


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A 500 with the same security headers as every other page, and no details (they go to the log)."""
    headers = {**security_headers(request), "Cache-Control": "no-store"}
    return PlainTextResponse("Internal error: the problem was logged. Try again, or tell the Parley administrator.", status_code=500, headers=headers)


# -- template helpers --------------------------------------------------------------------------
def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}" if isinstance(value, numbers.Real) else str(value)


def _pct(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.0f}%"


def _clock(seconds: Any) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat() if isinstance(value, date) else ("" if value is None else str(value))


def _highlight(text: str, terms: list[str]) -> Markup:
    """Escape ``text`` and wrap each occurrence of the search terms in <mark>."""
    out, lower, i = [], text.lower(), 0
    wanted = [t.lower() for t in terms if t]
    while i < len(text):
        hit = next((t for t in wanted if lower.startswith(t, i)), None)
        if hit:
            out.append(f"<mark>{escape(text[i:i + len(hit)])}</mark>")
            i += len(hit)
        else:
            out.append(str(escape(text[i])))
            i += 1
    return Markup("".join(out))


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters.update(num=_num, pct=_pct, clock=_clock, when=_when, highlight=_highlight)
    env.globals.update(line_chart=charts.line_chart, sparkline=charts.sparkline, range_bar=charts.range_bar)
    return templates
