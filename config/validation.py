"""pydantic's validation errors as medic words them: each problem where it is, then what is wrong."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def problem_text(error: Any) -> str:
    """One error's message, without the "Value error, " pydantic puts before a validator's own words."""
    return str(error["msg"]).removeprefix("Value error, ")


def problems(exc: ValidationError, *, whole: str) -> str:
    """Every problem as `field.path: message`, joined by "; "; `whole` names an error of the whole object."""
    return "; ".join(f"{'.'.join(map(str, error['loc'])) or whole}: {problem_text(error)}" for error in exc.errors())
