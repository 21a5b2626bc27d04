"""Settings of `medic serve`: the HTTP endpoint with /metrics, health probes and the JSON API."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Access = Literal["read", "write"]
READ: Final = "read"
WRITE: Final = "write"
MIN_TOKEN_CHARS = 16


class ApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr = Field(description=f"The bearer token, at least {MIN_TOKEN_CHARS} characters.")
    access: Access = Field(
        READ,
        description="write also allows operator actions, when MEDIC_SERVE__ALLOW_WRITES is true.")

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters "
                             "(generate one with `openssl rand -hex 24`)")
        return value


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Address `medic serve` listens on; 0.0.0.0 in a container.")
    port: int = Field(8080, ge=1, le=65_535, description="Port `medic serve` listens on.")
    tokens: dict[str, ApiToken] = Field(
        default_factory=dict,
        description="API clients by name, e.g. {\"grafana\": {\"token\": \"...\", \"access\": \"read\"}}; "
                    "/api/* answers 401 without one of these tokens. The name is the actor in the audit log.")
    allow_writes: bool = Field(
        False,
        description="Allow operator actions through the API (tokens with access write); off: the API is read-only.")
    metrics_cache_s: float = Field(
        5, ge=0, le=300,
        description="/metrics reuses what it read from the database and broker "
                    "for this long, so frequent scrapes do not load them.")
    probe_timeout_s: float = Field(
        2, gt=0, le=30,
        description="How long /readyz waits for the database and the broker.")
    page_max: int = Field(500, ge=1, le=10_000, description="Most rows one API page returns (?limit=).")
    max_body_bytes: int = Field(
        65_536, ge=1_024, le=16_777_216,
        description="Longest request body the API reads; a longer one is answered 413 unread, "
                    "and a request without a valid token 401 before its body is read.")
