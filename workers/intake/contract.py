"""The public `medic.report` message contract, schema version 1 (see docs/contract.md).

Unknown extra fields are kept (forward compatibility); anything that does not fit the
types below fails validation and the event is rejected with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from medic_client import celery_targets

SCHEMA_VERSION: Final = 1

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Cause(_Strict):
    model_config = ConfigDict(extra="allow", strict=True)
    error_type: Name
    message: str = ""


# Which idempotency key a replay carries: the event's own (the key the app used on its original call, so a
# partner that deduplicates recognises it), falling back to the execution's; or always the execution's.
IdempotencyChoice = Literal["event", "execution"]


HeaderValue = str | int | float | bool | None


class CeleryTarget(_Strict):
    kind: Literal["celery"]
    task: Name
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queue: Name | None = None
    idempotency: IdempotencyChoice = "event"
    # The replay's own message headers (medic's medic_* headers are added, and win) and priority.
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    priority: int | None = Field(None, ge=celery_targets.PRIORITY_MIN, le=celery_targets.PRIORITY_MAX)

    @field_validator("headers", mode="before")
    @classmethod
    def _allowed_headers(cls, value: Any) -> Any:
        # Rejected at intake, not refused at replay: a header Celery or medic reads (task, id, eta,
        # medic_*...) is never a slip of a well-behaved app (the client leaves them out), and the
        # sender learns it at once, with the reason, instead of from a replay step that fails later.
        # The same rules bind plan files (their targets are these models).
        problem = celery_targets.headers_problem(value) if isinstance(value, dict) else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("priority", mode="before")
    @classmethod
    def _priority_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be an integer 0..255, not a boolean")
        return value


class HttpTarget(_Strict):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=4096)]
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout_s: float = Field(10.0, gt=0, le=300)
    idempotency: IdempotencyChoice = "event"

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ActionTarget(_Strict):
    kind: Literal["action"]
    name: Name
    params: dict[str, Any] = Field(default_factory=dict)


Target = Annotated[CeleryTarget | HttpTarget | ActionTarget, Field(discriminator="kind")]


class ErrorEvent(BaseModel):
    """One reported failure. Field meanings: docs/contract.md, "The `medic.report` message"."""

    model_config = ConfigDict(extra="allow", strict=True)

    error_type: Name
    message: str
    service: Name
    error_mro: list[Name] = Field(default_factory=list, max_length=64)
    operation: Name | None = None
    source: Name | None = None
    http_status: int | None = Field(None, ge=100, le=599)
    errno: Annotated[str, StringConstraints(max_length=64)] | int | None = None
    code: Annotated[str, StringConstraints(max_length=128)] | None = None
    causes: list[Cause] = Field(default_factory=list, max_length=32)
    traceback: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = None
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    replay: Target | None = None
    fallback: Target | None = None
    compensate: Target | None = None  # undoes a partial operation (a plan's `compensate` step)
    plan_hint: Name | None = None  # a name plans may match on (`match: {hint: [...]}`); it chooses nothing alone
    # Set by the client when the error was reported inside medic's replay of this execution: recorded, no recovery.
    medic_execution_id: int | None = Field(None, ge=1)
    schema_version: Literal[1] = SCHEMA_VERSION

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> Any:
        # strict mode refuses strings for datetimes; the contract sends ISO-8601 text.
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be an ISO-8601 date-time") from None
        return value

    @field_validator("errno", "schema_version", "medic_execution_id", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        # bool is an int in Python (True == 1); in JSON it is not a number.
        if isinstance(value, bool):
            raise ValueError("must be a string or an integer, not a boolean")
        return value
