"""Settings of `medic serve`: the HTTP endpoint with /metrics, health probes and the JSON API."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

Access = Literal["read", "write", "ingest"]
READ: Final = "read"
WRITE: Final = "write"
INGEST: Final = "ingest"  # may only POST /api/events; reads nothing
MIN_TOKEN_CHARS = 16
DEFAULT_METRICS_MAX_SERVICES = 50

# The placeholders of .env.example (replace-with-...) and their usual cousins: a copy of the example whose
# secrets were not replaced would start with a password anyone can read in medic's repository.
_PLACEHOLDER = re.compile(r"(replace[-_ ]?(with|me)|change[-_ ]?me)(?![a-z])", re.IGNORECASE)
PLACEHOLDER_PROBLEM = ("is a placeholder (replace-with-... as in .env.example), not a secret: "
                       "generate one with `openssl rand -hex 24`")


def is_placeholder(secret: str) -> bool:
    return _PLACEHOLDER.search(secret) is not None


def token_problem(token: str) -> str | None:
    """Why a bearer token is refused, or None; the words never include the token."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"must be at least {MIN_TOKEN_CHARS} characters (generate one with `openssl rand -hex 24`)"
    if is_placeholder(token):
        return PLACEHOLDER_PROBLEM
    return None


def checked_token(value: SecretStr) -> SecretStr:
    problem = token_problem(value.get_secret_value())
    if problem:
        raise ValueError(problem)
    return value


# A bearer token medic accepts: long enough, and not a placeholder.
BearerToken = Annotated[SecretStr, AfterValidator(checked_token)]


class ApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: BearerToken = Field(description=f"The bearer token, at least {MIN_TOKEN_CHARS} characters.")
    access: Access = Field(
        READ,
        description="read: the JSON API; write: also operator actions, when MEDIC_SERVE__ALLOW_WRITES is true, "
                    "and POST /api/events; ingest: only POST /api/events (for apps reporting errors).")


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Address `medic serve` listens on; 0.0.0.0 in a container.")
    port: int = Field(8080, ge=1, le=65_535, description="Port `medic serve` listens on.")
    tokens: dict[str, ApiToken] = Field(
        default_factory=dict,
        description="API clients by name, e.g. {\"grafana\": {\"token\": \"...\", \"access\": \"read\"}}; "
                    "access is read, write (also operator actions and POST /api/events) or ingest (only POST "
                    "/api/events). /api/* answers 401 without one of these tokens. The name is the actor in the "
                    "audit log.")
    allow_writes: bool = Field(
        False,
        description="Allow operator actions through the API and the console at /ui (tokens with access write); "
                    "off: both are read-only.")
    metrics_token: BearerToken | None = Field(
        None,
        description=f"Bearer token /metrics asks for (Prometheus: `authorization: {{credentials: ...}}`), "
                    f"at least {MIN_TOKEN_CHARS} characters; unset: /metrics is open to whoever reaches the port.")
    metrics_max_services: int = Field(
        DEFAULT_METRICS_MAX_SERVICES, ge=1, le=10_000,
        description="Most services /metrics names in its per-service series (open breakers first, then the most "
                    "occurrences); the rest are summed under service=\"other\", so senders cannot grow them.")
    metrics_cache_s: float = Field(
        5, ge=0, le=300,
        description="/metrics reuses what it read from the database and broker "
                    "for this long, so frequent scrapes do not load them.")
    probe_timeout_s: float = Field(
        2, gt=0, le=30,
        description="How long /readyz waits for the database and the broker.")
    console_session_hours: float = Field(
        12, gt=0, le=720,
        description="How long a login to the operator console (/ui) lasts; rotating or removing the token "
                    "ends its sessions sooner.")
    page_max: int = Field(500, ge=1, le=10_000, description="Most rows one API page returns (?limit=).")
    max_body_bytes: int = Field(
        65_536, ge=1_024, le=16_777_216,
        description="Longest request body the API reads; a longer one is answered 413 unread, "
                    "and a request without a valid token 401 before its body is read.")
    ingest_max_events: int = Field(
        100, ge=1, le=10_000,
        description="Most events one POST /api/events carries (a JSON array); a longer array is answered 413.")
    ingest_max_body_bytes: int = Field(
        1_048_576, ge=1_024, le=67_108_864,
        description="Longest body POST /api/events reads (MEDIC_SERVE__MAX_BODY_BYTES is for the other routes); "
                    "a longer one is answered 413 unread.")
    ingest_rate_per_s: float = Field(
        100, gt=0, le=1_000_000,
        description="Events per second each token may POST to /api/events, on average (counted per `medic serve` "
                    "process); over it, 429 with Retry-After.")
    ingest_burst_events: int = Field(
        500, ge=1, le=1_000_000,
        description="Events a token may POST to /api/events at once above its rate (the rate limit's bucket); "
                    "at least MEDIC_SERVE__INGEST_MAX_EVENTS, so a full batch can always pass.")

    @model_validator(mode="after")
    def _burst_holds_a_batch(self) -> ServeSettings:
        if self.ingest_burst_events < self.ingest_max_events:
            raise ValueError(f"ingest_burst_events ({self.ingest_burst_events}) must be at least ingest_max_events "
                             f"({self.ingest_max_events}): a full batch could never pass the rate limit")
        return self
