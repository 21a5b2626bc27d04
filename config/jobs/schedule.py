"""When each maintenance job runs, and its time limits: defaults here, overrides in settings.

A schedule is either an interval (`every_s`) or a crontab (`crontab`, five fields, UTC).
Job names are listed here because config cannot import workers (docs/architecture.md, "Folders");
tests/unit/maintenance/test_registry.py checks that this list and workers.maintenance.registry agree.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import ParseException, crontab
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.validation import problems

CRONTAB_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


class JobSchedule(BaseModel):
    """One job's schedule and limits. Exactly one of every_s and crontab."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="False: beat does not schedule it (it can still be run by hand).")
    every_s: float | None = Field(None, gt=0, description="Run every this many seconds.")
    crontab: str | None = Field(
        None,
        description="Run on this crontab (minute hour day-of-month month day-of-week, UTC).")
    soft_time_limit_s: int = Field(60, ge=1, description="The job is asked to stop (and records a failure) after this.")
    time_limit_s: int = Field(90, ge=2, description="The worker process running the job is killed after this.")

    @field_validator("crontab")
    @classmethod
    def _check_crontab(cls, value: str | None) -> str | None:
        if value is not None:
            to_crontab(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> JobSchedule:
        if (self.every_s is None) == (self.crontab is None):
            raise ValueError("set exactly one of every_s and crontab")
        if self.time_limit_s <= self.soft_time_limit_s:
            raise ValueError(f"time_limit_s ({self.time_limit_s}) must be greater than "
                             f"soft_time_limit_s ({self.soft_time_limit_s})")
        return self

    def describe(self) -> str:
        return f"every {self.every_s:g}s" if self.every_s is not None else f"cron {self.crontab}"


def to_crontab(text: str) -> crontab:
    parts = text.split()
    if len(parts) != len(CRONTAB_FIELDS):
        raise ValueError(f"{text!r}: a crontab has 5 fields (minute hour day-of-month month day-of-week)")
    fields = dict(zip(CRONTAB_FIELDS, parts, strict=True))
    for field, part in fields.items():  # one at a time, so the error names the field
        try:
            crontab(**{field: part})
        except (ValueError, TypeError, ParseException) as exc:
            raise ValueError(f"{text!r}: {field.replace('_', '-')} {part!r}: {_reason(field, exc)}") from None
    return crontab(**fields)


def _reason(field: str, exc: Exception) -> str:
    # Celery calls any word it cannot read a "weekday literal", whatever the field.
    if "literal" in str(exc) and field != "day_of_week":
        return "use numbers, ranges (1-5), lists (1,3) and steps (*/15)"
    return str(exc).rstrip(".")


def _job(**fields: Any) -> JobSchedule:
    return JobSchedule(**fields)


# name -> default schedule. Short jobs often, heavy ones at night (UTC).
DEFAULT_SCHEDULES: dict[str, JobSchedule] = {
    "stuck": _job(every_s=60, soft_time_limit_s=50, time_limit_s=80),
    "health": _job(every_s=60, soft_time_limit_s=40, time_limit_s=55),
    "reconcile": _job(every_s=900, soft_time_limit_s=300, time_limit_s=360),
    "log-rotation": _job(every_s=600, soft_time_limit_s=300, time_limit_s=360),
    "cleanup": _job(every_s=3600, soft_time_limit_s=1500, time_limit_s=1800),
    "backup": _job(crontab="30 2 * * *", soft_time_limit_s=3300, time_limit_s=3600),
    "db-maintenance": _job(crontab="0 4 * * 0", soft_time_limit_s=3300, time_limit_s=3600),
}


def merged_schedules(overrides: dict[str, dict[str, Any]]) -> dict[str, JobSchedule]:
    """The defaults with the user's partial overrides applied; unknown job names are an error."""
    unknown = sorted(set(overrides) - set(DEFAULT_SCHEDULES))
    if unknown:
        raise ValueError(f"unknown job {', '.join(map(repr, unknown))}; jobs: {', '.join(DEFAULT_SCHEDULES)}")
    merged = {}
    for name, default in DEFAULT_SCHEDULES.items():
        override = dict(overrides.get(name) or {})
        base = default.model_dump()
        if "every_s" in override and "crontab" not in override:
            base["crontab"] = None
        if "crontab" in override and "every_s" not in override:
            base["every_s"] = None
        try:
            merged[name] = JobSchedule(**{**base, **override})
        except ValidationError as exc:
            raise ValueError(f"job {name!r}: {problems(exc, whole='schedule')}") from None
    return merged
