"""Settings of the reconciliation job (workers/maintenance/reconcile/) and its declarative checks."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config.validation import problems

# `medic reconcile run medic` runs medic's own checks; no configured check may take the name.
OWN_CHECKS = "medic"
CHECK_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _statement(value: str) -> str:
    """A trailing ';' goes: `detect` is wrapped in a subquery to limit it and to re-check one row."""
    statement = value.strip().rstrip(";").strip()
    if not statement:
        raise ValueError("must not be empty")
    return statement


class CheckSettings(BaseModel):
    """One declarative check against an application database."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique; lowercase letters, digits, '-', '_', '.'.")
    description: str = Field("", description="What a discrepancy means, for operators.")
    database_url_env: str = Field(description="Name of the environment variable holding the database URL.")
    detect: str = Field(description="One SELECT returning the discrepant rows.")
    key: str = Field("id", description="Column of `detect` identifying a row.")
    fix: list[str] | None = Field(
        None,
        description="Statement (or list of statements) run in one transaction "
                    "per detected row, the row's columns bound as :column.")
    auto_fix: bool = Field(False, description="Run `fix`; otherwise discrepancies are reported and alerted only.")
    max_rows: int = Field(100, ge=1, le=10_000, description="At most this many discrepancies handled per run.")
    timeout_s: float = Field(60, gt=0, le=3600, description="PostgreSQL statement timeout of detect and fix.")

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_check(cls, data: Any, handler):
        """Errors name the check, not only its position in the list."""
        try:
            return handler(data)
        except ValidationError as exc:
            name = data.get("name") if isinstance(data, dict) else None
            found = problems(exc, whole="check")
            raise ValueError(f"check {name!r}: {found}" if name else found) from None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value == OWN_CHECKS:
            raise ValueError(f"{OWN_CHECKS!r} is reserved for medic's own checks")
        if not CHECK_NAME.match(value):
            raise ValueError("use 1-64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit")
        return value

    @field_validator("database_url_env")
    @classmethod
    def _check_env_name(cls, value: str) -> str:
        if not ENV_VAR_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (letters, digits, '_'), "
                             "not a URL: the URL itself never goes in the configuration")
        return value

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if not COLUMN_NAME.match(value):
            raise ValueError("must be a column name (letters, digits, '_')")
        return value

    @field_validator("detect")
    @classmethod
    def _detect(cls, value: str) -> str:
        return _statement(value)

    @field_validator("fix", mode="before")
    @classmethod
    def _fix(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            if not value:
                raise ValueError("must name at least one statement")
            return [_statement(item) if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _fix_for_auto_fix(self) -> CheckSettings:
        if self.auto_fix and self.fix is None:
            raise ValueError(f"check {self.name!r}: auto_fix: is true but there is no fix statement")
        return self


class ReconcileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fix_own: bool = Field(
        True,
        description="Fix medic's own inconsistencies (counters, orphaned claims, contradictory states).")
    alert_channel: str = Field("log", description="Channel told of discrepancies a run found and did not fix.")
    chunk_rows: int = Field(
        1000, ge=10, le=100_000,
        description="Rows medic's own checks read per query (error groups, live executions).")
    own_max_rows: int = Field(
        1000, ge=1, le=100_000,
        description="Each of medic's own checks handles at most this many "
                    "inconsistencies per run; the rest wait for the next run.")
    checks: list[CheckSettings] = Field(
        default_factory=list,
        description="Declarative checks against application databases: a list of "
                    "{name, description, database_url_env, detect, key, fix, auto_fix, max_rows, timeout_s}; "
                    "see docs/maintenance/reconcile.md.")

    @model_validator(mode="after")
    def _unique_names(self) -> ReconcileSettings:
        seen: set[str] = set()
        for check in self.checks:
            if check.name in seen:
                raise ValueError(f"checks: check {check.name!r}: name: used by more than one check")
            seen.add(check.name)
        return self

    def check(self, name: str) -> CheckSettings | None:
        return next((check for check in self.checks if check.name == name), None)
