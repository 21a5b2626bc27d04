"""The console pages on error groups, executions, dead letters and breakers (the framework is workers/console).

Each module has `router = APIRouter()`, listed in ROUTERS, which workers/console/router.py includes under /ui.

Modules:
groups: /ui/groups (search, filters, sparklines) and /ui/groups/{id} (classification, occurrences, messages,
    executions; resolve / reopen).
executions: /ui/executions (filters, live rows) and /ui/executions/{id} (timeline of attempts, audit; retry / cancel).
dead: /ui/dead (filters; replay / purge one or all matching, with a confirmation naming how many).
breakers: /ui/breakers (state per service, recent transitions; open / close / reset).
"""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
