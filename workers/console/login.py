"""/ui/login and /ui/logout: an API token (read or write) opens a session cookie; logout is a POST.

Logout records the session as logged out in the database, so a copy of its cookie no longer works anywhere.

The login form carries a double-submit CSRF token (a cookie and a field that must match), so another
site cannot log a browser into a session of its choosing.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from config.serve import INGEST
from workers.api.auth import authenticate
from workers.clock import utcnow
from workers.console import sessions
from workers.console.web import PREFIX, ConsoleRefusal, current_user, done, render, safe_next, viewer
from workers.storage.db import guarded_session

router = APIRouter()
LOGIN_CSRF_MAX_AGE_S = 3600


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = PREFIX) -> Response:
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    return _form(request, next, None, status.HTTP_200_OK)


@router.post("/login", response_class=HTMLResponse)
async def log_in(request: Request) -> Response:
    form = await request.form()
    token, csrf, next_url = (str(form.get(key) or "") for key in ("token", "csrf", "next"))
    if not sessions.same_token(csrf, request.cookies.get(sessions.LOGIN_CSRF_COOKIE) or ""):
        return _form(request, next_url, "The login form expired: log in again.", status.HTTP_403_FORBIDDEN)
    serve = request.app.state.settings.serve
    try:
        client = authenticate(serve, f"Bearer {token.strip()}")
    except HTTPException as refused:
        return _form(request, next_url, _why(str(refused.detail)), status.HTTP_401_UNAUTHORIZED)
    if client.access == INGEST:
        return _form(request, next_url, f"Token {client.name!r} is an ingest token: it may only report events. "
                                        "Log in with a read or write token.", status.HTTP_403_FORBIDDEN)
    cookie, _ = sessions.issue(serve, client.name)
    response = RedirectResponse(safe_next(next_url), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(sessions.SESSION_COOKIE, cookie, max_age=int(serve.console_session_hours * 3600),
                        path=PREFIX, httponly=True, samesite="strict", secure=_https(request))
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def log_out(request: Request) -> Response:
    user = await run_in_threadpool(viewer, request)
    form = await request.form()
    if not sessions.same_token(str(form.get("csrf") or ""), user.csrf):
        raise ConsoleRefusal(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or out of date: "
                                                        "reload the page and log out again")
    await run_in_threadpool(_record_logout, request, sessions.ConsoleSession(user.name, user.csrf))
    response = done(f"{PREFIX}/login", "Logged out.")
    response.delete_cookie(sessions.SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict",
                           secure=_https(request))
    return response


def _record_logout(request: Request, session: sessions.ConsoleSession) -> None:
    """Every replica refuses the session's cookie from now on."""
    with guarded_session(request.app.state.sessions) as db:
        sessions.record_logout(db, session, now=utcnow(),
                               lifetime_s=request.app.state.settings.serve.console_session_hours * 3600)


def _form(request: Request, next_url: str, error: str | None, status_code: int) -> Response:
    csrf = request.cookies.get(sessions.LOGIN_CSRF_COOKIE) or sessions.new_csrf()
    response = render(request, None, "login.html", status_code, next=safe_next(next_url), error=error,
                      login_csrf=csrf)
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, csrf, max_age=LOGIN_CSRF_MAX_AGE_S, path=PREFIX,
                        httponly=True, samesite="strict", secure=_https(request))
    return response


def _why(detail: str) -> str:
    if "disabled" in detail:
        return "The console is disabled: no tokens are configured (MEDIC_SERVE__TOKENS)."
    return "Unknown token."


def _https(request: Request) -> bool:
    # uvicorn sets the scheme from X-Forwarded-Proto only for proxies it trusts (--forwarded-allow-ips).
    return request.url.scheme == "https"
