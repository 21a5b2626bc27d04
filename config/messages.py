"""Settings of the user-facing messages rendered for error groups and alerts (workers/messages/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode


class MessageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Extra message template files (YAML, one locale each), "
                    "comma-separated, applied over the built-in ones in config/locales/.")
    default_locale: str = Field(
        "en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        description="Locale used when a request asks for none, or for one medic has no templates for.")

    @field_validator("files", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
