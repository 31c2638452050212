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

from ..errors import ConfigError
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
HSTS = "max-age=31536000"
"""Sent (with Secure cookies) when ``web_secure_cookie`` says the app is served over TLS."""
LONGEST_NAME = 150
"""A longer user name is a failed login without any password work."""
THROTTLE_AUDIT_S = 60.0
"""A refused (throttled or locked) attempt is audited at most once a minute per user name and address."""


def security_headers(request: Request) -> dict[str, str]:
    """The headers every response carries, error pages included."""
    headers = dict(HEADERS)
    if request.app.state.settings.web_secure_cookie:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", max_age=max_age, secure=request.app.state.settings.web_secure_cookie)

router = APIRouter()


async def session_middleware(request: Request, call_next) -> Response:
    """Attach ``request.state.user``/``csrf``; turn away requests without a live session."""
    path = request.url.path
    if path.startswith("/static/"):  # public assets: no session look-up
        response = await call_next(request)
        for name, value in security_headers(request).items():
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
    for name, value in security_headers(request).items():
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


def _login_message(error: str, wait: int) -> str:
    """The login page's message for ``error`` (fixed texts: nothing from the request is echoed)."""
    if error == "locked":
        return f"Too many wrong passwords for this user name or from your address: logins are locked for {max(1, round(wait / 60))} minutes."
    if error == "wait":
        return f"Too many wrong passwords: wait {wait} seconds before trying again."
    return "Wrong user name or password." if error else ""


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str = "", wait: int = 0) -> Response:
    token = secrets.token_urlsafe(24)
    context = {"login_csrf": token, "next": _safe_next(next), "error": _login_message(error, max(0, min(wait, 86400)))}
    response = request.app.state.templates.TemplateResponse(request, "login.html", context)
    _cookie(request, response, LOGIN_COOKIE, token, 3600)
    return response


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""), next: str = Form("/")) -> Response:
    accounts, throttle = request.app.state.accounts, request.app.state.throttle
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    if not cookie or not secrets.compare_digest(cookie, csrf):
        raise HTTPException(403, "the login form expired: reload the page and try again")
    client = request.client.host if request.client else None
    back = f"next={quote(_safe_next(next))}"
    verdict = throttle.check(username, client)
    if not verdict.allowed:  # not even checked: no argon2 work, and it does not count
        action = "login_locked" if verdict.locked else "login_throttled"
        accounts.audit_once(None, action, _throttled(verdict.key, username, client), THROTTLE_AUDIT_S, f"{verdict.key}: wait {verdict.wait_s} s", client)
        return RedirectResponse(f"/login?error={'locked' if verdict.locked else 'wait'}&wait={verdict.wait_s}&{back}", status_code=303)
    user = accounts.authenticate(username, password) if len(username) <= LONGEST_NAME else None
    if user is None:
        accounts.audit(None, "login_failed", username, None, client)
        after = throttle.failed(username, client)
        if after.locked:
            accounts.audit_once(None, "login_locked", _throttled(after.key, username, client), THROTTLE_AUDIT_S, f"{after.key}: locked for {after.wait_s} s", client)
        return RedirectResponse(f"/login?error=1&{back}", status_code=303)
    throttle.succeeded(username)
    token, _ = accounts.start_session(user)
    accounts.audit(user, "login", None, None, client)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _cookie(request, response, SESSION_COOKIE, token, SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_COOKIE)
    return response


def _throttled(key: str | None, username: str, client: str | None) -> str:
    """An audit row's target for a throttled login: the user name, or the address when that is what is throttled."""
    return username if key == "user" else f"address {client}"


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: User = Depends(current_user)) -> Response:
    return request.app.state.templates.TemplateResponse(request, "account.html", {"user": user, "csrf": request.state.csrf, "message": "", "error": ""})


@router.post("/account/password", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def change_password(request: Request, current: str = Form(""), new: str = Form(""), confirm: str = Form(""), user: User = Depends(current_user)) -> Response:
    """Change one's own password: this session goes on, every other session of the user ends."""
    accounts = request.app.state.accounts
    message, error = "", ""
    if new != confirm:
        error = "The new password and its confirmation differ."
    else:
        try:
            ended = accounts.change_password(user.username, current, new, request.cookies.get(SESSION_COOKIE))
            accounts.audit(user, "password_changed", user.username, f"{ended} other session(s) ended", request.client.host if request.client else None)
            message = f"Password changed; your {ended} other sessions were ended." if ended else "Password changed; your other sessions were ended (there were none)."
        except ConfigError as exc:
            error = exc.problem[:1].upper() + exc.problem[1:] + "."
    response = request.app.state.templates.TemplateResponse(request, "account.html", {"user": user, "csrf": request.state.csrf, "message": message, "error": error})
    response.status_code = 400 if error else 200
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, user: User = Depends(current_user)) -> Response:
    accounts = request.app.state.accounts
    accounts.end_session(request.cookies.get(SESSION_COOKIE))
    accounts.audit(user, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
