"""The console's routes under /ui, its static files, and how `medic serve`'s app installs it.

`router` holds the framework's pages (login, overview, alerts, maintenance, backups) and every router of
workers.console.pages.ROUTERS; `install(app)` adds it with the static files, the security headers and
the error pages.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from workers.console import alerts, backups, login, maintenance, overview
from workers.console.headers import ConsoleHeaders
from workers.console.pages import ROUTERS
from workers.console.web import PREFIX, STATIC_DIR, ConsoleRefusal, refusal_page

router = APIRouter(prefix=PREFIX, include_in_schema=False)
# /ui itself (FastAPI includes no empty path from a sub-router); /ui/ comes with overview.router.
router.add_api_route("", overview.overview, methods=["GET"], response_class=HTMLResponse)
for _page in (login.router, overview.router, alerts.router, maintenance.router, backups.router, *ROUTERS):
    router.include_router(_page)


def install(app: FastAPI) -> None:
    """Serve the console at /ui on `app`."""
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.add_exception_handler(ConsoleRefusal, _refused)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(ConsoleHeaders)


def in_console(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefusal)
    if exc.location is not None:
        if request.headers.get("hx-request") == "true":  # a live refresh: htmx reloads the whole page there
            return Response(status_code=status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": exc.location})
        return RedirectResponse(exc.location, status_code=exc.status_code)
    return refusal_page(request, exc.status_code, exc.message)


async def _invalid(request: Request, exc: Exception) -> Response:
    """A bad query or form value: on the console, a page naming it; on the API, FastAPI's 422 JSON."""
    assert isinstance(exc, RequestValidationError)
    if not in_console(request):
        return await request_validation_exception_handler(request, exc)
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                         for e in exc.errors())
    response: HTMLResponse = refusal_page(request, status.HTTP_422_UNPROCESSABLE_CONTENT, problems)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    """An unknown console URL or method: a page saying so; elsewhere FastAPI's JSON, unchanged."""
    assert isinstance(exc, StarletteHTTPException)
    if not in_console(request) or request.url.path.startswith(f"{PREFIX}/static/"):
        return await http_exception_handler(request, exc)
    messages = {404: f"there is no page at {request.url.path}",
                405: f"{request.method} is not how {request.url.path} is used"}
    response: HTMLResponse = refusal_page(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response
