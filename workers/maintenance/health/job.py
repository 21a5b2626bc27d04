"""The health job: take a snapshot, store it, and open or resolve the alerts it implies."""

from __future__ import annotations

from workers.maintenance.health import alerts, rules, snapshots
from workers.maintenance.job import JobContext, JobResult


def run(ctx: JobContext) -> JobResult:
    settings, now = ctx.settings, ctx.now()
    snapshot = snapshots.take(settings, ctx.sessions, now=now)
    notifier = alerts.Notifier(settings.health.alert_channel, settings.notification_cooldown_s)
    with ctx.sessions() as session:
        snapshots.record(session, snapshot)
        changes = alerts.sync(session, rules.firing(snapshot.assessment.reasons), now=now, notifier=notifier)
        session.commit()
    reasons = snapshot.assessment.reasons
    active = changes.opened + changes.refreshed
    summary = (f"{snapshot.assessment.status}" + (f" ({'; '.join(r.text for r in reasons[:3])}"
                                                  f"{'; …' if len(reasons) > 3 else ''})" if reasons else "")
               + f"; alerts: {changes.opened} opened, {changes.resolved} resolved, {active} active;"
               f" measured in {snapshot.metrics.duration_ms:g} ms")
    return JobResult(summary=summary, counts={"reasons": len(reasons), "alerts_opened": changes.opened,
                                              "alerts_resolved": changes.resolved, "alerts_active": active,
                                              "snapshot_ms": round(snapshot.metrics.duration_ms or 0)})
