"""/ui/maintenance: every job with its schedule and last run (as `medic maintenance list`), and past runs
(as `medic maintenance runs`); read-only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from workers.api.session import db
from workers.console.web import ConsoleUser, render, viewer
from workers.maintenance.listing import job_rows, run_rows
from workers.maintenance.registry import JOBS

router = APIRouter()
RUN_LIMITS = (50, 200, 1000)


@router.get("/maintenance", response_class=HTMLResponse)
def maintenance_page(request: Request, job: str = Query("", max_length=64),
                     limit: int = Query(RUN_LIMITS[0], ge=1, le=RUN_LIMITS[-1]),
                     user: ConsoleUser = Depends(viewer)) -> HTMLResponse:
    chosen = job if job in JOBS else None
    with db(request) as session:
        jobs = job_rows(session, request.app.state.settings)
        runs = run_rows(session, job=chosen, limit=limit)
    return render(request, user, "maintenance.html", partial="maintenance_rows.html", jobs=jobs, runs=runs,
                  job=chosen or "", unknown_job=job if job and chosen is None else None, limit=limit,
                  job_names=list(JOBS), limits=RUN_LIMITS)
