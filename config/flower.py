"""Settings of `medic flower`: Flower, the Celery monitor, always behind basic auth."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from config.serve import PLACEHOLDER_PROBLEM, is_placeholder


class FlowerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    basic_auth: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="user:password pairs allowed into Flower, comma-separated in "
                    "the environment; `medic flower` refuses to start without one.")
    address: str = Field("127.0.0.1", description="Address Flower listens on; 0.0.0.0 in a container.")
    port: int = Field(5555, ge=1, le=65_535, description="Port Flower listens on.")
    url_prefix: str = Field("", description="Path prefix when Flower is served behind a reverse proxy, e.g. flower.")

    @field_validator("basic_auth", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("basic_auth")
    @classmethod
    def _pairs(cls, value: list[SecretStr]) -> list[SecretStr]:
        for entry in value:
            user, _, password = entry.get_secret_value().partition(":")
            if not user or not password:
                raise ValueError("each entry must be user:password with both parts non-empty")
            if is_placeholder(password):
                raise ValueError(f"a password {PLACEHOLDER_PROBLEM}")
        return value
