"""/ui/backups: the registered archives, newest first (as `medic backup list`); read-only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from workers.api.session import db
from workers.console.web import ConsoleUser, render, viewer
from workers.maintenance.listing import backup_rows

router = APIRouter()


@router.get("/backups", response_class=HTMLResponse)
def backups_page(request: Request, deleted: bool = False, user: ConsoleUser = Depends(viewer)) -> HTMLResponse:
    settings = request.app.state.settings
    with db(request) as session:
        rows = backup_rows(session, include_deleted=deleted)
    return render(request, user, "backups.html", partial="backups_rows.html", backups=rows, deleted=deleted,
                  backups_scheduled=settings.schedules["backup"].enabled)
