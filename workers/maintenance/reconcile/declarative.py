"""Declarative checks against application databases: detect the discrepant rows, then fix each in
its own transaction (auto_fix), or record them as reported (or dry_run) and change nothing.

A check that cannot run fails alone: its error is logged and the other checks still run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from config.jobs.reconcile import CheckSettings
from workers.maintenance.job import JobContext
from workers.maintenance.reconcile import appdb, journal
from workers.maintenance.reconcile.appdb import CheckFailed


def check(ctx: JobContext, spec: CheckSettings) -> journal.Tally:
    tally = journal.Tally(spec.name)
    try:
        engine = appdb.connect(spec)
        try:
            _run(ctx, spec, engine, tally)
        finally:
            engine.dispose()
    except (CheckFailed, SQLAlchemyError) as exc:
        tally.error = str(exc) if isinstance(exc, CheckFailed) else appdb.describe(exc)
        with ctx.sessions() as session:
            session.add(journal.entry(spec.name, "check", journal.ERROR, at=ctx.now(), run_id=ctx.run_id,
                                      detail=tally.error))
            session.commit()
    return tally


def _run(ctx: JobContext, spec: CheckSettings, engine: Engine, tally: journal.Tally) -> None:
    where = f"{engine.url.render_as_string(hide_password=True)} (from {spec.database_url_env})"
    try:
        columns, rows = appdb.detect(engine, spec)
    except SQLAlchemyError as exc:
        raise CheckFailed(f"detect failed on {where}: {appdb.describe(exc)}") from None
    if spec.key not in columns:
        raise CheckFailed(f"detect returns no column {spec.key!r} (key); it returns {', '.join(columns)}")
    tally.truncated = len(rows) > spec.max_rows
    rows = rows[:spec.max_rows]
    if not (spec.auto_fix and not ctx.dry_run):
        _record_unfixed(ctx, spec, rows, tally)
        return
    parameters = appdb.fix_parameters(spec, columns)
    for done, row in enumerate(rows, 1):
        action, after, detail = _fix(engine, spec, row, parameters)
        with ctx.sessions() as session:
            session.add(journal.entry(spec.name, _subject(spec, row), action, at=ctx.now(), run_id=ctx.run_id,
                                      before=row, after=after, detail=detail))
            session.commit()
        tally.add(action)
        ctx.progress(done, len(rows), spec.name)


def _fix(engine: Engine, spec: CheckSettings, row: dict[str, Any], parameters: list[set[str]]) -> tuple[str, Any, str]:
    try:
        affected, still = appdb.fix(engine, spec, row, parameters)
    except SQLAlchemyError as exc:
        return journal.FIX_FAILED, None, f"the fix failed and was rolled back: {appdb.describe(exc)}"
    if still is not None:
        return journal.FIX_FAILED, still, "detect still returns the row after the fix: rolled back"
    return journal.FIXED, {"rows_affected": affected, "detected": False}, "no longer detected"


def _record_unfixed(ctx: JobContext, spec: CheckSettings, rows: list[dict[str, Any]], tally: journal.Tally) -> None:
    action = journal.unfixed_action(ctx.dry_run)
    if ctx.dry_run:
        detail = "would be fixed" if spec.auto_fix else "would be reported"
    else:
        detail = "auto_fix is off: reported, not changed" if spec.fix else "no fix statement: reported"
    with ctx.sessions() as session:
        for row in rows:
            session.add(journal.entry(spec.name, _subject(spec, row), action, at=ctx.now(), run_id=ctx.run_id,
                                      before=row, detail=detail))
            tally.add(action)
        session.commit()


def _subject(spec: CheckSettings, row: dict[str, Any]) -> str:
    return f"{spec.key}={journal.jsonable(row.get(spec.key))}"
