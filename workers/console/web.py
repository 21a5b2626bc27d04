"""What every console page uses: templates, the logged-in user, the POST guard, rendering and flashes.

Pages declare `user: ConsoleUser = Depends(viewer)` to be seen, and actions `Depends(operator)`:
a write token on a server with MEDIC_SERVE__ALLOW_WRITES, and the session's CSRF token in the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from fastapi import Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from config.errors import StorageUnavailable
from config.serve import WRITE
from workers.clock import utcnow
from workers.console import formatting, sessions
from workers.recovery.service import RecoveryService
from workers.recovery.store import Actor
from workers.storage.db import guarded_session

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
FLASH_COOKIE = "medic_flash"
FLASH_MAX_CHARS = 300
PREFIX = "/ui"


@dataclass(frozen=True)
class ConsoleUser:
    name: str  # the API token's name
    access: str  # read | write
    csrf: str  # the session's CSRF token, carried by every form
    can_act: bool  # write access on a server that allows writes


def actor(user: ConsoleUser) -> Actor:
    """Who the user's actions are audited as."""
    return Actor(f"ui:{user.name}")


def recovery(request: Request, user: ConsoleUser) -> RecoveryService:
    """The recovery service acting as ui:<name> (the same service, and broker, as the API's actions)."""
    service: RecoveryService = request.app.state.recovery_as(actor(user))
    return service


class ConsoleRefusal(Exception):
    """A console request answered with a page saying why (403, 404, 409...), or a redirect to the login."""

    def __init__(self, status_code: int, message: str, *, location: str | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.location = location


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                      autoescape=select_autoescape(["html", "htm", "xml", "svg"], default_for_string=True,
                                                   default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        ago=lambda moment: formatting.ago(moment, utcnow()),
        when=lambda moment: formatting.when(moment, utcnow()),
        iso=formatting.iso, duration=formatting.duration, count=formatting.count, size=formatting.size,
        state_class=formatting.state_class, sparkline=formatting.sparkline)
    env.globals["asset"] = asset_url
    env.globals["medic_version"] = version("medic")
    return env


def asset_url(path: str) -> str:
    """The URL of a static file; it carries medic's version, so a long cache never serves an upgrade old files."""
    return f"{PREFIX}/static/{path}?v={quote(version('medic'))}"


templates = Jinja2Templates(env=_environment())


def current_user(request: Request) -> ConsoleUser | None:
    """The user of the request's session cookie, None without a valid one (expired, logged out...).

    StorageUnavailable when the database cannot say whether the session was logged out: no page is
    shown on a session that may have ended (the 503 page says why)."""
    serve = request.app.state.settings.serve
    with guarded_session(request.app.state.sessions) as db:
        session = sessions.read(serve, request.cookies.get(sessions.SESSION_COOKIE),
                                max_age_s=serve.console_session_hours * 3600,
                                logged_out=lambda key: sessions.is_logged_out(db, key))
    if session is None:
        return None
    access = serve.tokens[session.name].access
    return ConsoleUser(session.name, access, session.csrf, can_act=access == WRITE and serve.allow_writes)


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{PREFIX}/login?{urlencode({'next': here})}"


def viewer(request: Request) -> ConsoleUser:
    """FastAPI dependency: the logged-in user; without a valid session, off to the login page."""
    user = current_user(request)
    if user is None:
        raise ConsoleRefusal(status.HTTP_303_SEE_OTHER, "log in first", location=login_url(request))
    return user


async def operator(request: Request) -> ConsoleUser:
    """FastAPI dependency of every POST action: a session, write access, writes allowed, the form's CSRF token.

    The form is read here once; routes read it again from `request.form()` (Starlette caches it)."""
    user = await run_in_threadpool(viewer, request)  # a database lookup
    form = await request.form()
    if not sessions.same_token(_field(form, "csrf"), user.csrf):
        raise ConsoleRefusal(status.HTTP_403_FORBIDDEN,
                             "the form's CSRF token is missing or out of date: reload the page and try again")
    if not user.can_act:
        serve = request.app.state.settings.serve
        why = (f"token {user.name!r} has {user.access} access; acting needs {WRITE}" if user.access != WRITE
               else "this server is read-only (MEDIC_SERVE__ALLOW_WRITES is false)")
        raise ConsoleRefusal(status.HTTP_403_FORBIDDEN, why if serve.tokens else "no tokens are configured")
    return user


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def render(request: Request, user: ConsoleUser | None, template: str, status_code: int = 200,
           partial: str | None = None, **context: Any) -> HTMLResponse:
    """The page `template`; only `partial` (a fragment) when htmx asks for it (live refresh)."""
    fragment = partial is not None and request.headers.get("hx-request") == "true"
    flash = None if fragment else _flash(request)
    response = templates.TemplateResponse(request, partial if fragment and partial else template,
                                          {"user": user, "flash": flash, "now": utcnow(), **context},
                                          status_code=status_code)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def done(url: str, message: str) -> RedirectResponse:
    """303 to `url` (a path of this console), showing `message` once there."""
    response = RedirectResponse(safe_next(url), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(FLASH_COOKIE, quote(message[:FLASH_MAX_CHARS]), max_age=60, path=PREFIX, httponly=True,
                        samesite="strict")
    return response


def safe_next(url: str | None) -> str:
    """`url` when it is a path of this console, else the overview: redirects never leave the console."""
    if not url or not url.startswith(f"{PREFIX}") or url.startswith("//") or "\\" in url:
        return PREFIX
    rest = url[len(PREFIX):]
    if rest and rest[0] not in "/?":
        return PREFIX
    return url


def _flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    return unquote(raw)[:FLASH_MAX_CHARS] if raw else None


def refusal_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """The page of a refused or failed console request: what is wrong, in words (never a traceback)."""
    user = None
    if status_code != status.HTTP_503_SERVICE_UNAVAILABLE:  # the database is down: not asked again
        try:
            user = current_user(request)
        except StorageUnavailable:
            pass
    return render(request, user, "error.html", status_code=status_code, code=status_code, message=message)
