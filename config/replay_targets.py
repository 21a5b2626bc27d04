"""Settings of what an event may ask medic to run: Celery tasks, queues and plugin actions (allowlists),
and the key that signs a Celery replay's callbacks. See docs/security.md, "Replay targets"."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

MIN_CALLBACK_SECRET_CHARS = 32
# A glob names tasks, queues or actions: letters, digits and . _ - : plus the wildcards * ? [ ].
GLOB_PATTERN = r"^[\w.:\-*?\[\]!]+$"

Glob = Annotated[str, Field(min_length=1, max_length=200, pattern=GLOB_PATTERN)]
# Read as JSON or as names separated by commas (see _as_list), not decoded by pydantic-settings.
Globs = Annotated[list[Glob], NoDecode]


def _as_list(value: Any) -> Any:
    """A JSON list, or names separated by commas (an environment variable)."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        return json.loads(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ReplayTargetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    celery_tasks: Globs = Field(
        default_factory=list,
        description="Celery task names (globs, e.g. orders.tasks.*) an event's replay, fallback or compensate "
                    "target may name; empty: none (targets written in plans are always allowed). medic.* and "
                    "celery.* are refused whatever this says.")
    celery_queues: Globs = Field(
        default_factory=list,
        description="Queues (globs) an event's Celery target may send to; a target without a queue goes to "
                    "`celery`, which must then be allowed too. Empty: none (plans' targets are always allowed). "
                    "medic's own queues (medic.*) are refused whatever this says.")
    actions: Globs = Field(
        default_factory=list,
        description="Plugin actions (entry point group medic.actions; globs) an event's target may name; "
                    "empty: none (actions named by plans are always allowed).")
    callback_secret: SecretStr | None = Field(
        None, min_length=MIN_CALLBACK_SECRET_CHARS,
        description="Key of the HMAC-SHA256 that signs a Celery replay's link/link_error callbacks (at least "
                    f"{MIN_CALLBACK_SECRET_CHARS} characters, e.g. `openssl rand -hex 32`); the same on every "
                    "medic host. Default: a random key generated once and kept in medic's database.")

    @field_validator("celery_tasks", "celery_queues", "actions", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _as_list(value)
