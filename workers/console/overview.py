"""/ui: the overview: health status and why, error rates of the last 24 hours, open alerts, breakers not
closed, queues, stuck executions, dead letters, the last maintenance runs and the last good backup.

Everything comes from small, indexed reads: the newest health snapshot (what `medic health` and
/api/health show), the hourly averages of the snapshots' error rates, the active alerts, each job's
last run and the newest verified archive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from config.errors import ConfigError, StorageUnavailable
from workers.api.session import db
from workers.breakers import views as breaker_views
from workers.clock import utcnow
from workers.console.formatting import chart_segments, nice_top
from workers.console.web import ConsoleUser, render, viewer
from workers.maintenance.backup import catalog
from workers.maintenance.health import alerts as alert_store
from workers.maintenance.health import snapshots
from workers.maintenance.health.history import RateHistory, hourly_error_rates
from workers.maintenance.listing import job_rows
from workers.masking import mask_text

router = APIRouter()
CHART_HOURS = 24
CHART_WIDTH, CHART_HEIGHT = 1000, 220
ALERTS_SHOWN = 10


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: ConsoleUser = Depends(viewer)) -> HTMLResponse:
    settings = request.app.state.settings
    now = utcnow()
    with db(request) as session:
        latest = snapshots.latest(session)
        history = hourly_error_rates(session, now=now, hours=CHART_HOURS)
        active_alerts = alert_store.list_alerts(session, states=alert_store.ACTIVE, limit=ALERTS_SHOWN)
        jobs = job_rows(session, settings)
        last_backup = catalog.last_good(session)
        breakers, breakers_problem = not_closed_breakers(request, session, now)
    age_s = None if latest is None else max(0.0, (now - latest.taken_at).total_seconds())
    return render(request, user, "overview.html", partial="overview_body.html",
                  snapshot=latest, age_s=age_s, stale=latest is None or age_s > settings.health.stale_after_s,
                  chart=chart(history), alerts=active_alerts, jobs=jobs, last_backup=last_backup,
                  breakers=breakers, breakers_problem=breakers_problem,
                  backups_expected=settings.schedules["backup"].enabled)


def not_closed_breakers(request: Request, session: Session, now: datetime) -> tuple[list[dict[str, Any]], str | None]:
    """The breakers not closed now (as the Breakers page lists them), or why they cannot be read."""
    try:
        return breaker_views.not_closed(session, breaker_views.source_of_app(request.app.state), now=now), None
    except (StorageUnavailable, ConfigError) as exc:
        return [], f"breaker states unknown: {mask_text(str(exc))}"


def chart(history: RateHistory) -> dict[str, Any]:
    """The chart's series as SVG polylines (numbers only) with its axis maximum and hour labels."""
    peak = max((v for values in history.per_category.values() for v in values if v is not None), default=0.0)
    top = nice_top(peak)
    series = [{"category": category, "segments": chart_segments(values, top, CHART_WIDTH, CHART_HEIGHT),
               "latest": next((v for v in reversed(values) if v is not None), None),
               "peak": max((v for v in values if v is not None), default=None),
               "values": [v or 0.0 for v in values]}
              for category, values in history.per_category.items()]
    step = CHART_WIDTH / max(1, len(history.starts) - 1)
    ticks = [{"x": round(i * step, 1), "label": f"{start:%H:%M}"}
             for i, start in enumerate(history.starts) if i % 6 == 0 or i == len(history.starts) - 1]
    return {"series": series, "top": top, "width": CHART_WIDTH, "height": CHART_HEIGHT, "ticks": ticks,
            "from": history.starts[0] if history.starts else None}
