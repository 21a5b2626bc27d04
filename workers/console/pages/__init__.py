"""The console pages on error groups, executions, dead letters and breakers (the framework is workers/console).

Each module has `router = APIRouter()`, listed in ROUTERS, which workers/console/router.py includes under /ui.

Modules:
groups: /ui/groups (search, filters, sparklines) and /ui/groups/{id} (classification, occurrences, messages,
    executions; resolve / reopen).
executions: /ui/executions (filters, live rows) and /ui/executions/{id} (timeline of attempts, audit; retry / cancel).
dead: /ui/dead (filters; replay / purge one or all matching, with a confirmation naming how many).
breakers: /ui/breakers (state per service, recent transitions; open / close / reset).
timeline: an execution's plan steps and attempts as the execution page draws them (pure).
common: paging, filter times, page URLs and the form fields the pages share.
"""

from fastapi import APIRouter

from workers.console.pages import breakers, dead, executions, groups

ROUTERS: list[APIRouter] = [groups.router, executions.router, dead.router, breakers.router]
