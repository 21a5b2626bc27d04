"""/ui/dead: dead letters filtered as the bulk operations select them (workers/recovery/dead_filters.py); replay
or purge one, or every one matching after a confirmation naming how many (a dry run by the same functions).

Everything goes through workers.recovery.operator, as POST /api/dead/... and `medic dead` do: replay_dead,
plan_bulk_replay + replay_planned, plan_purge + purge_planned; audited as ui:<name>."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from workers.api.ids import MAX_ROW_ID, id_path, id_query
from workers.api.session import db
from workers.classification.taxonomy import BUILTIN_CATEGORIES
from workers.console.pages import common
from workers.console.web import ConsoleRefusal, ConsoleUser, done, operator, recovery, render, viewer
from workers.records import executions_with_context, step_of
from workers.recovery import dead_listing
from workers.recovery import operator as ops
from workers.recovery.dead_filters import DeadFilter
from workers.recovery.service import RecoveryService

router = APIRouter()
# A bulk replay from the console replays at most this many per click (oldest deaths first); it says how many are left.
BULK_REPLAY_MAX = 500
FILTERS = ("service", "category", "group", "since", "until")


def _selection(service: str, category: str, group: int | None, since: str, until: str) -> DeadFilter:
    return DeadFilter(service=service or None, category=category or None, group_id=group,
                      died_after=common.moment("since", since), died_before=common.moment("until", until))


def _params(service: str, category: str, group: int | None, since: str, until: str) -> dict[str, str | int | None]:
    return {"service": service, "category": category, "group": group, "since": since, "until": until}


SERVICE_Q = Query("", max_length=256)
CATEGORY_Q = Query("", max_length=64)
TIME_Q = Query("", max_length=common.TIME_QUERY_CHARS)


@router.get("/dead", response_class=HTMLResponse)
def dead_page(request: Request, user: ConsoleUser = Depends(viewer), service: str = SERVICE_Q,
              category: str = CATEGORY_Q, group: int | None = id_query("error group"), since: str = TIME_Q,
              until: str = TIME_Q, offset: int = common.OFFSET) -> HTMLResponse:
    selection = _selection(service, category, group, since, until)
    with db(request) as session:
        rows = executions_with_context(session, dead_listing.list_dead(session, selection, limit=common.PAGE_ROWS,
                                                                       offset=offset))
        matching = dead_listing.count_dead(session, selection)
    params = _params(service, category, group, since, until)
    categories = sorted(set(BUILTIN_CATEGORIES) | ({category} if category else set()))
    return render(request, user, "pages/dead.html", partial="pages/dead_rows.html",
                  rows=rows, steps={e.id: step_of(e) for e, _, _ in rows}, matching=matching, params=params,
                  bulk_problem=selection.problem(), filtered=not selection.is_empty(),
                  offset=offset, limit=common.PAGE_ROWS, next_offset=common.next_offset(rows, offset),
                  page_url=lambda o: common.url("/ui/dead", {**params, "offset": o or None}),
                  filter_fields=[
                      {"name": "service", "label": "Service", "value": service, "placeholder": "exact name"},
                      {"name": "category", "label": "Category", "value": category,
                       "options": [("", "any"), *((c, c) for c in categories)]},
                      {"name": "group", "label": "Error group", "value": group, "type": "number"},
                      {"name": "since", "label": "Died since", "value": since, "placeholder": "30m, 2h, 7d"},
                      {"name": "until", "label": "Died before", "value": until, "placeholder": "30m, 2h, 7d"}])


@router.get("/dead/confirm", response_class=HTMLResponse)
def confirm_page(request: Request, action: Literal["replay", "purge"], user: ConsoleUser = Depends(viewer),
                 service: str = SERVICE_Q, category: str = CATEGORY_Q, group: int | None = id_query("error group"),
                 since: str = TIME_Q, until: str = TIME_Q) -> HTMLResponse:
    """What a bulk replay or purge would take, by a dry run; its Confirm button posts the same filter."""
    selection = _checked(_selection(service, category, group, since, until))
    service_ = recovery(request, user)
    params = _params(service, category, group, since, until)
    if action == "replay":
        planned = ops.plan_bulk_replay(service_, selection, limit=BULK_REPLAY_MAX)
        count, matched = len(planned.to_replay), planned.matched
        skipped, over_limit = planned.skipped, planned.over_limit
    else:
        purge = ops.plan_purge(service_, selection=selection)
        count, matched, skipped, over_limit = len(purge.to_purge), len(purge.to_purge), (), 0
    return render(request, user, "pages/dead_confirm.html", action=action, count=count, matched=matched,
                  skipped=skipped[:20], skipped_count=len(skipped), over_limit=over_limit,
                  described=selection.describe(),
                  hidden={key: value for key, value in params.items() if value not in (None, "")},
                  back=common.url("/ui/dead", params))


@router.post("/dead/replay")
async def replay_matching(request: Request, user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    form = await request.form()
    selection, listing = _posted(form)
    service = recovery(request, user)
    planned = ops.plan_bulk_replay(service, selection, limit=BULK_REPLAY_MAX)
    result = ops.replay_planned(service, planned, actor=service.actor)
    message = f"Replayed {len(result.replayed)} of {result.matched} matching dead letters ({selection.describe()})."
    if result.skipped:
        message += f" Skipped {len(result.skipped)} (replayed before, or changed meanwhile)."
    if result.over_limit:
        message += f" {result.over_limit} left: replay again for the next {BULK_REPLAY_MAX}."
    return done(listing, message)


@router.post("/dead/purge")
async def purge_matching(request: Request, user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    form = await request.form()
    selection, listing = _posted(form)
    service = recovery(request, user)
    result = ops.purge_planned(service, ops.plan_purge(service, selection=selection), actor=service.actor)
    return done(listing, f"Purged {len(result.purged)} dead letters ({selection.describe()}); their audit trail "
                         "is kept.")


@router.get("/dead/{execution_id}")
def dead_letter(execution_id: int = id_path("dead letter"), user: ConsoleUser = Depends(viewer)) -> RedirectResponse:
    """A dead letter's page is its execution's page (with Replay and Purge while it is dead)."""
    return RedirectResponse(f"/ui/executions/{execution_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/dead/{execution_id}/replay")
async def replay_one(request: Request, execution_id: int = id_path("dead letter"),
                     user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    service = recovery(request, user)
    new_id = ops.replay_dead(service, execution_id, actor=service.actor)
    return done(f"/ui/executions/{new_id}", f"Dead letter {execution_id} replayed as execution {new_id}.")


@router.post("/dead/{execution_id}/purge")
async def purge_one(request: Request, execution_id: int = id_path("dead letter"),
                    user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    form = await request.form()
    service: RecoveryService = recovery(request, user)
    result = ops.purge_planned(service, ops.plan_purge(service, ids=[execution_id]), actor=service.actor)
    purged = "purged; its audit trail is kept" if result.purged else "was no longer a dead letter: nothing purged"
    return done(common.back(form, "/ui/dead"), f"Dead letter {execution_id} {purged}.")


def _checked(selection: DeadFilter) -> DeadFilter:
    problem = selection.problem()
    if problem:
        raise ConsoleRefusal(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    return selection


def _posted(form: FormData) -> tuple[DeadFilter, str]:
    """The filter a confirmation posted, and the list page it came from."""
    group = common.field(form, "group", 20)
    if group is not None and not (group.isdigit() and 1 <= int(group) <= MAX_ROW_ID):
        raise ConsoleRefusal(status.HTTP_422_UNPROCESSABLE_CONTENT, f"group: {group!r} is not an error group id")
    values = {name: common.field(form, name) or "" for name in FILTERS if name != "group"}
    group_id = int(group) if group else None
    selection = _checked(_selection(values["service"], values["category"], group_id, values["since"],
                                    values["until"]))
    return selection, common.url("/ui/dead", {**values, "group": group_id})
