"""The reconciliation job: medic's own checks, then each configured check; alerts for what stays unfixed.

`ctx.params["check"]` names one check ("medic": all of medic's own); without it every check runs.
The run fails only when a check could not run or a fix failed; discrepancies found are its
counts and, unless fixed (or a dry run), an alert.
"""

from __future__ import annotations

from collections.abc import Callable

from config.errors import NotFound
from config.jobs.reconcile import OWN_CHECKS, CheckSettings
from config.settings import Settings
from workers.maintenance.job import JobContext, JobResult
from workers.maintenance.reconcile import claims, counters, declarative, executions, journal
from workers.notify.message import Message
from workers.notify.queue import enqueue

# medic's own checks, in the order they run: (name, what it checks, check(ctx, fix=)).
OWN: tuple[tuple[str, str, Callable[..., journal.Tally]], ...] = (
    (counters.CHECK, "error groups' occurrence_count equals their stored occurrences", counters.check),
    (claims.CHECK, "running attempts have a claimer; scheduled ones carry no claim", claims.check),
    (executions.CHECK, "executions' states agree with their open attempts", executions.check),
)
SAMPLE_SUBJECTS = 10  # discrepancies named in an alert


def names(settings: Settings) -> list[str]:
    """What `medic reconcile run NAME` accepts."""
    return [OWN_CHECKS, *(check.name for check in settings.reconcile.checks)]


def selected(settings: Settings, name: str | None) -> tuple[bool, list[CheckSettings]]:
    """(run medic's own checks?, the configured checks to run)."""
    if name is None:
        return True, list(settings.reconcile.checks)
    if name == OWN_CHECKS:
        return True, []
    check = settings.reconcile.check(name)
    if check is None:
        raise NotFound(f"no reconciliation check {name!r}; checks: {', '.join(names(settings))}")
    return False, [check]


def run(ctx: JobContext) -> JobResult:
    own, checks = selected(ctx.settings, ctx.params.get("check"))
    tallies: list[journal.Tally] = []
    if own:
        fix = ctx.settings.reconcile.fix_own and not ctx.dry_run
        for _, _, check in OWN:
            tallies.append(check(ctx, fix=fix))
            _alert(ctx, tallies[-1], "medic's own consistency")
    for spec in checks:
        tallies.append(declarative.check(ctx, spec))
        _alert(ctx, tallies[-1], spec.description)
    failed = any(t.error or t.done[journal.FIX_FAILED] for t in tallies)
    return JobResult(summary="; ".join(t.describe() for t in tallies), counts=journal.counts(tallies), failed=failed)


def _alert(ctx: JobContext, tally: journal.Tally, description: str) -> None:
    """One warning per check whose discrepancies stay unfixed; the channel's cooldown applies per check."""
    if ctx.dry_run or not tally.to_alert:
        return
    with ctx.sessions() as session:
        subjects = [entry.subject for entry in journal.history(session, check=tally.check, run_id=ctx.run_id,
                                                                limit=SAMPLE_SUBJECTS)]
        fields = {"check": tally.check, "about": description, "result": tally.describe(),
                  "some": ", ".join(subjects), "run": ctx.run_id}
        # The subject stays the same from run to run: the cooldown applies to it.
        message = Message(subject=f"reconciliation check {tally.check}: discrepancies not fixed", level="warning",
                          kind="reconcile", fields={key: value for key, value in fields.items() if value})
        enqueue(session, message, channel=ctx.settings.reconcile.alert_channel, now=ctx.now(),
                cooldown_s=ctx.settings.notification_cooldown_s)
        session.commit()
