"""Login, logout, the session middleware and CSRF checks.

Every request passes the middleware: with no live session, a page request is redirected to
``/login`` and anything else (audio, exports, API) gets 401. Only ``/login`` and ``/static/`` are
open. The session cookie is a random token (HttpOnly, SameSite=Strict) whose hash names a
server-side row; each session has a CSRF token that every POST must send back. The login form
itself uses a double-submit token (cookie + hidden field).
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from .accounts import SESSION_HOURS, User

SESSION_COOKIE = "parley_session"
LOGIN_COOKIE = "parley_login"
PUBLIC_PREFIXES = ("/login", "/static/")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

router = APIRouter()


async def session_middleware(request: Request, call_next) -> Response:
    """Attach ``request.state.user``/``csrf``; turn away requests without a live session."""
    path = request.url.path
    if path.startswith("/static/"):  # public assets: no session look-up
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
    accounts = request.app.state.accounts
    found = await run_in_threadpool(accounts.session, request.cookies.get(SESSION_COOKIE))
    request.state.user, request.state.csrf = found if found else (None, None)
    if found is None and not path.startswith(PUBLIC_PREFIXES):
        if request.method == "GET" and "text/html" in request.headers.get("accept", "") and not path.startswith(("/audio/", "/api/")):
            response: Response = RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        else:
            response = PlainTextResponse("login required: open /login first", status_code=401)
    else:
        response = await call_next(request)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_user(request: Request) -> User:
    """The logged-in user (the middleware guarantees one outside the public paths)."""
    user = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(401, "login required")
    return user


def compliance_user(user: User = Depends(current_user)) -> User:
    """Admin and compliance only (the SQL page and the audit trail)."""
    if not user.is_compliance:
        raise HTTPException(403, "this page is for compliance and admin users")
    return user


async def check_csrf(request: Request) -> None:
    """Every POST must carry the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``)."""
    form = await request.form()
    sent = form.get("csrf") or request.headers.get("x-csrf-token") or ""
    expected = getattr(request.state, "csrf", None)
    if not expected or not secrets.compare_digest(str(sent), expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = request.app.state.templates.TemplateResponse(request, "login.html", {"login_csrf": token, "next": _safe_next(next), "error": error})
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""), next: str = Form("/")) -> Response:
    accounts = request.app.state.accounts
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    if not cookie or not secrets.compare_digest(cookie, csrf):
        raise HTTPException(403, "the login form expired: reload the page and try again")
    user = accounts.authenticate(username, password)
    client = request.client.host if request.client else None
    if user is None:
        accounts.audit(None, "login_failed", username, None, client)
        return RedirectResponse(f"/login?error=1&next={quote(_safe_next(next))}", status_code=303)
    token, _ = accounts.start_session(user)
    accounts.audit(user, "login", None, None, client)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", max_age=SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, user: User = Depends(current_user)) -> Response:
    accounts = request.app.state.accounts
    accounts.end_session(request.cookies.get(SESSION_COOKIE))
    accounts.audit(user, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
