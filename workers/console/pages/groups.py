"""/ui/groups: error groups searched and filtered, with 24-hour sparklines; /ui/groups/{id}: one group's triage,
recent occurrences, messages per audience and locale, and executions; resolve / reopen.

Reads are the API's (workers.intake.queries, routes_groups' latest executions and messages); resolve / reopen is
workers.intake.group_status.set_group_status, as `medic errors resolve` and POST /api/groups/{id}/resolve."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from config.errors import NotFound
from workers.api.ids import id_path
from workers.api.routes_groups import latest_executions, with_messages
from workers.api.session import db
from workers.classification.taxonomy import BUILTIN_CATEGORIES
from workers.clock import utcnow
from workers.console.pages import common
from workers.console.web import ConsoleUser, actor, done, operator, render, viewer
from workers.intake import queries
from workers.intake.group_status import OPEN, RESOLVED, set_group_status
from workers.records import executions_with_context
from workers.recovery import store

router = APIRouter()
OCCURRENCES_SHOWN = 10
EXECUTIONS_SHOWN = 20


@router.get("/groups", response_class=HTMLResponse)
def groups_page(request: Request, user: ConsoleUser = Depends(viewer),
                q: str = Query("", max_length=queries.MAX_SEARCH_CHARS), category: str = Query("", max_length=64),
                severity: Literal["", "low", "medium", "high", "critical"] = "",
                status: Literal["", "open", "resolved"] = "", service: str = Query("", max_length=256),
                since: str = Query("", max_length=common.TIME_QUERY_CHARS),
                offset: int = common.OFFSET) -> HTMLResponse:
    seen_since = common.moment("since", since)
    now = utcnow()
    with db(request) as session:
        groups = queries.list_groups(session, category=category or None, service=service or None,
                                     status=status or None, severity=severity or None, since=seen_since, search=q,
                                     limit=common.PAGE_ROWS, offset=offset)
        ids = [g.id for g in groups]
        sparks = queries.hourly_counts(session, ids, now=now)
        latest = latest_executions(session, ids)
    params = {"q": q, "category": category, "severity": severity, "status": status, "service": service,
              "since": since}
    categories = sorted(set(BUILTIN_CATEGORIES) | ({category} if category else set()))
    return render(request, user, "pages/groups.html", partial="pages/groups_rows.html",
                  groups=groups, sparks=sparks, latest=latest, params=params, offset=offset, limit=common.PAGE_ROWS,
                  next_offset=common.next_offset(groups, offset), filtered=any(params.values()),
                  page_url=lambda o: common.url("/ui/groups", {**params, "offset": o or None}),
                  filter_fields=[
                      {"name": "q", "label": "Search", "value": q, "placeholder": "type, message or service"},
                      {"name": "category", "label": "Category", "value": category,
                       "options": [("", "any"), *((c, c) for c in categories)]},
                      {"name": "severity", "label": "Severity", "value": severity,
                       "options": [("", "any"), *((s, s) for s in queries.SEVERITIES)]},
                      {"name": "status", "label": "Status", "value": status,
                       "options": [("", "any"), (OPEN, OPEN), (RESOLVED, RESOLVED)]},
                      {"name": "service", "label": "Service", "value": service, "placeholder": "exact name"},
                      {"name": "since", "label": "Seen since", "value": since, "placeholder": "30m, 2h, 7d"}])


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(request: Request, group_id: int = id_path("error group"),
               user: ConsoleUser = Depends(viewer)) -> HTMLResponse:
    now = utcnow()
    accept_language = request.headers.get("accept-language")
    with db(request) as session:
        group = queries.get_group(session, group_id)
        if group is None:
            raise NotFound(f"no error group with id {group_id}")
        recent = queries.recent_occurrences(session, group_id, limit=OCCURRENCES_SHOWN)
        executions = executions_with_context(session, store.list_executions(session, group_id=group_id,
                                                                            limit=EXECUTIONS_SHOWN))
        spark = queries.hourly_counts(session, [group_id], now=now)[group_id]
    newest = executions[0][0] if executions else None
    catalog = request.app.state.catalog
    chosen = catalog.negotiate(accept_language=accept_language)
    messages = {locale: with_messages(request, group, newest, locale, None)["messages"]
                for locale in [chosen, *(loc for loc in catalog.locales if loc != chosen)]}
    return render(request, user, "pages/group.html", group=group, occurrences=recent, executions=executions,
                  events={o.id: common.pretty_json(o.event) for o in recent},
                  spark=spark, messages=messages, locale=chosen,
                  audiences=sorted({audience for texts in messages.values() for audience in texts}))


@router.post("/groups/{group_id}/resolve")
async def resolve(request: Request, group_id: int = id_path("error group"),
                  user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    return await _set_status(request, user, group_id, RESOLVED)


@router.post("/groups/{group_id}/reopen")
async def reopen(request: Request, group_id: int = id_path("error group"),
                 user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    return await _set_status(request, user, group_id, OPEN)


async def _set_status(request: Request, user: ConsoleUser, group_id: int, status: str) -> RedirectResponse:
    form = await request.form()
    with db(request) as session:
        change = set_group_status(session, group_id, status, actor=actor(user), reason=common.reason(form))
    message = (f"Error group {group_id} is {status} now (was {change.before})." if change.changed
               else f"Error group {group_id} was {status} already: nothing changed.")
    return done(common.back(form, f"/ui/groups/{group_id}"), message)
