"""medic's settings: one pydantic-settings object, read from MEDIC_* environment
variables and an optional config file (TOML or YAML) named by MEDIC_CONFIG_FILE.

Precedence, highest first: environment variables, the config file, the defaults here.
Nothing else in medic reads the environment.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
import yaml
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from config.channels import DEFAULT_CHANNELS, ChannelConfig
from config.environment import known_variables, unknown_variable_warning, unknown_variables
from config.errors import ConfigError
from config.flower import FlowerSettings
from config.jobs.backup import BackupSettings
from config.jobs.cleanup import CleanupSettings
from config.jobs.health import HealthSettings
from config.jobs.log_rotation import LogRotationSettings
from config.jobs.reconcile import ReconcileSettings
from config.jobs.schedule import JobSchedule, merged_schedules
from config.jobs.stuck import StuckSettings
from config.messages import MessageSettings
from config.replay_http import HttpReplaySettings, credential_origin, is_connection_header
from config.replay_targets import ReplayTargetSettings
from config.serve import ServeSettings
from config.urls import (
    BROKER_SCHEMES,
    EMBEDDED_BROKER_PREFIX,
    is_amqp_url,
    is_postgresql_url,
    is_redis_url,
    is_sqlite_url,
    redelivers_after_visibility_timeout,
    register_medic_transport,
    with_psycopg_driver,
)
from config.validation import problem_text

ENV_PREFIX = "MEDIC_"
register_medic_transport()  # the embedded default's URL names medic's kombu transport
# A setting whose name says it holds a secret never has its value echoed in an error.
_SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|AUTH|CREDENTIAL|HEADERS|KEY", re.IGNORECASE)
# The default data directory before it became one per user: `.medic` in the working directory.
LEGACY_DATA_DIR = Path(".medic")
DEFAULT_VISIBILITY_TIMEOUT_S = 300
# Recovery defaults when the visibility timeout does not demand otherwise (see the settings).
DEFAULT_COUNTDOWN_MAX_S = 60.0
DEFAULT_ATTEMPT_TIMEOUT_S = 600.0
# Half of RabbitMQ's default consumer_timeout: longer delays wait in the database instead.
RABBITMQ_COUNTDOWN_MAX_S = 900.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
                                      validate_default=True)

    config_file: Path | None = Field(
        None,
        description="TOML or YAML file with settings (keys without the MEDIC_ prefix).")
    data_dir: Path = Field(
        default_factory=lambda: default_data_dir(),
        description="Directory of the embedded SQLite database and broker; a relative path is taken from the "
                    "working directory. Default: the user's data directory for medic, the same from any "
                    "directory (Linux: $XDG_DATA_HOME/medic, else ~/.local/share/medic; macOS: "
                    "~/Library/Application Support/medic).")
    database_url: str = Field("", description="SQLAlchemy URL of medic's database; default: SQLite in data_dir.")
    broker_url: str = Field(
        "",
        description="Celery broker URL; default: medic's embedded broker, a SQLite file in data_dir "
                    "(medic+sqlite:///; apps may publish to it with kombu's sqla+sqlite:/// URL).")
    broker_visibility_timeout_s: int = Field(
        DEFAULT_VISIBILITY_TIMEOUT_S, ge=10, le=86_400,
        description="Visibility timeout of Redis and of the embedded broker: an unacknowledged message "
                    "held by a dead worker is redelivered after this.")
    embedded_broker_poll_interval_s: float = Field(
        0.1, gt=0, le=5,
        description="Embedded (SQLite) broker: how long the worker sleeps when a poll "
                    "finds nothing it can take. Longer saves idle CPU, costs throughput.")
    rules_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Extra classification rule files (YAML), comma-separated, "
                    "applied over the built-in rules in the order given.")
    guess_unknown: bool = Field(
        True,
        description="When no rule matches an event, name its likeliest category from the words of its type "
                    "names and messages (a model trained on labelled real errors), with confidence 0.5 and "
                    "rule `guess.<category>`. false: such events stay `unknown` (confidence 0.1).")

    plans_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Extra recovery plan files (YAML), comma-separated, "
                    "applied over the built-in plans in the order given.")
    recovery_countdown_max_s: float = Field(
        ge=0,
        description="Retry delays up to this wait in the broker (Celery countdown); longer ones wait "
                    "in the database for the sweeper. At most half of "
                    "MEDIC_BROKER_VISIBILITY_TIMEOUT_S; default: 60 s or that half, whichever is less.")
    recovery_sweep_interval_s: float = Field(
        2, gt=0, le=300,
        description="How often beat runs the recovery sweeper (due attempts, deadlines, notifications).")
    recovery_sweep_log_idle: bool = Field(
        False,
        description="Log every recovery sweeper pass at INFO, idle ones too (Celery's received/succeeded "
                    "lines, beat's sending line); off: a pass that finds nothing logs only at DEBUG.")
    recovery_redispatch_after_s: float = Field(
        30, gt=0,
        description="A due attempt still unclaimed this long after its message was sent is sent again "
                    "(the message was lost); so is a Celery replay claimed this long ago and never "
                    "published (its process stopped between the claim and the send).")
    recovery_attempt_timeout_s: float = Field(
        gt=0,
        description="Default deadline of one Celery replay; no outcome by then counts as a "
                    "timeout. A plan step's timeout_s overrides it. With Redis at least 1.2 x "
                    "MEDIC_BROKER_VISIBILITY_TIMEOUT_S; default: 600 s or that, whichever is more.")
    replay_http_headers: dict[str, dict[str, SecretStr]] = Field(
        default_factory=dict,
        description="Headers added to HTTP replays by exact origin, e.g. credentials: "
                    "{\"https://api.partner.com:443\": {\"Authorization\": \"Bearer ...\"}}; a bare "
                    "host means https on port 443, http must be named. Credentials belong here: an "
                    "event's secrets are masked at intake. The origin must also be in MEDIC_REPLAY_HTTP__ALLOW.")
    replay_http: HttpReplaySettings = Field(default_factory=HttpReplaySettings, description="HTTP replays.")
    replay_targets: ReplayTargetSettings = Field(default_factory=ReplayTargetSettings, description="Replay targets.")
    breaker_store: Literal["auto", "redis", "database"] = Field(
        "auto",
        description="Where circuit breakers keep their shared state; auto: "
                    "Redis when the broker is Redis, else the database.")
    breaker_redis_url: str = Field("", description="Redis for breaker state; default: the broker URL.")
    channels: dict[str, ChannelConfig] = Field(
        default_factory=lambda: dict(DEFAULT_CHANNELS),
        description="Notification channels by name, as JSON or in the config "
                    "file: log, webhook, slack, email (see docs/recovery.md).")
    breaker_channel: str = Field("log", description="Channel told of every circuit breaker transition.")
    notification_cooldown_s: float = Field(
        900, ge=0,
        description="An alert for the same group, channel and level is not sent again within this.")
    notification_retry_max_delay_s: float = Field(
        3600, ge=1,
        description="Cap of the backoff between tries of a notification its channel refused.")
    group_signal_regressed_cooldown_s: float = Field(
        3600, ge=0,
        description="Group signals (events without a recovery target, docs/recovery.md): a group that "
                    "regresses again within this after its last `regressed` signal is not signalled again. "
                    "A `new` signal goes out once per group.")
    group_signal_spike_window_s: float = Field(
        300, ge=1,
        description="Group signals: the window over which a group's rate is measured (a sliding "
                    "estimate over two fixed windows) for its `spike` signal.")
    group_signal_spike_threshold: int = Field(
        100, ge=1,
        description="Group signals: a group spikes when this many of its occurrences without a target "
                    "fall within MEDIC_GROUP_SIGNAL_SPIKE_WINDOW_S.")
    group_signal_spike_cooldown_s: float = Field(
        3600, ge=0,
        description="Group signals: a group that spikes again within this after its last `spike` signal "
                    "is not signalled again, however long the storm lasts.")

    maintenance_jobs: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-job overrides of the maintenance schedule, e.g. "
                    "{\"backup\": {\"crontab\": \"0 3 * * *\"}, \"log-rotation\": {\"enabled\": false}}; "
                    "keys: enabled, every_s, crontab, soft_time_limit_s, "
                    "time_limit_s. `medic maintenance list` shows the result.")
    maintenance_channel: str = Field("log", description="Channel told when a maintenance job fails.")
    beat_scheduler: Literal["auto", "redbeat", "file"] = Field(
        "auto",
        description="auto: RedBeat (a Redis lock, so two beats never both schedule) when the "
                    "broker is Redis, else a schedule file in MEDIC_DATA_DIR (one beat).")
    beat_redis_url: str = Field("", description="Redis for RedBeat's schedule and lock; default: the broker URL.")
    beat_lock_timeout_s: int = Field(
        30, ge=5, le=3600,
        description="RedBeat: a beat that stops renewing its lock for this long is replaced by a standby beat "
                    "(which asks for the lock every fifth of this: takeover within 1.2 times it).")
    stuck: StuckSettings = Field(default_factory=StuckSettings, description="Stuck-workflow detection.")
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings, description="Reconciliation.")
    log_rotation: LogRotationSettings = Field(default_factory=LogRotationSettings, description="Log rotation.")
    backup: BackupSettings = Field(default_factory=BackupSettings, description="Backups.")
    cleanup: CleanupSettings = Field(default_factory=CleanupSettings, description="Cleanup of records past retention.")
    health: HealthSettings = Field(default_factory=HealthSettings, description="Health snapshots and alert rules.")
    serve: ServeSettings = Field(
        default_factory=ServeSettings,
        description="`medic serve`: /metrics, /healthz, /readyz and the JSON API.")
    messages: MessageSettings = Field(
        default_factory=MessageSettings,
        description="User-facing messages per audience and locale.")
    flower: FlowerSettings = Field(default_factory=FlowerSettings, description="`medic flower`: the Celery monitor.")

    max_message_chars: int = Field(8_192, ge=256, description="Longer messages are truncated before storage.")
    max_traceback_chars: int = Field(32_768, ge=1_024, description="Longer tracebacks are truncated before storage.")
    max_context_bytes: int = Field(
        65_536, ge=1_024,
        description="An event whose context encodes to more JSON bytes is rejected.")
    max_event_bytes: int = Field(262_144, ge=4_096, description="An event that encodes to more JSON bytes is rejected.")
    max_nesting_depth: int = Field(
        12, ge=2, le=64,
        description="An event nested deeper than this (objects and lists) is rejected.")
    rejected_payload_max_bytes: int = Field(
        16_384, ge=1_024,
        description="How much of a rejected payload is kept for operators.")

    task_soft_time_limit_s: int = Field(30, ge=1, description="Soft time limit of every medic task.")
    task_time_limit_s: int = Field(60, ge=2, description="Hard time limit of every medic task.")
    db_retry_max_delay_s: int = Field(
        30, ge=1,
        description="Cap of the backoff between retries of an event while the database is unreachable.")
    worker_concurrency: int = Field(2, ge=1, le=256, description="Worker processes per `medic worker` / `medic run`.")
    intake_batch_max_events: int = Field(
        100, ge=1, le=1_000,
        description="Reported events a worker stores together in one transaction (a batch is flushed when full).")
    intake_batch_max_wait_ms: int = Field(
        200, ge=1, le=5_000,
        description="Longest an event waits for its batch to fill before the batch is flushed anyway.")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="Log level of medic's processes.")
    log_file: Path | None = Field(
        None,
        description="Also write medic's logs to this file; it is reopened when log rotation renames it.")
    log_format: Literal["json", "text"] = Field(
        "json",
        description="json: one JSON object a line; text: for people at a terminal.")

    # Whether data_dir was left to its default (none of MEDIC_DATA_DIR, the config file, an argument set it).
    _default_data_dir: bool = PrivateAttr(False)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, _EnvSource(settings_cls), _ConfigFileSource(settings_cls), file_secret_settings)

    @model_validator(mode="before")
    @classmethod
    def _derive_recovery_timings(cls, data: Any) -> Any:
        """Defaults of the recovery timings, which follow the visibility timeout; None asks for them too."""
        if not isinstance(data, dict):
            return data
        visibility_timeout_s = _number_or(data.get("broker_visibility_timeout_s"), DEFAULT_VISIBILITY_TIMEOUT_S)
        derived = {"recovery_countdown_max_s": default_countdown_max_s(visibility_timeout_s),
                   "recovery_attempt_timeout_s": default_attempt_timeout_s(visibility_timeout_s)}
        return {**data, **{name: value for name, value in derived.items() if data.get(name) is None}}

    @field_validator("rules_files", "plans_files", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(not_valid_json(exc)) from None
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("replay_http_headers")
    @classmethod
    def _origins_of_credentials(cls, value: dict[str, dict[str, SecretStr]]) -> dict[str, dict[str, SecretStr]]:
        origins: dict[str, dict[str, SecretStr]] = {}
        for key, headers in value.items():
            origin = credential_origin(key)
            if origin in origins:
                raise ValueError(f"{key!r} names origin {origin} a second time")
            if framing := [name for name in headers if is_connection_header(name)]:
                raise ValueError(f"{key!r}: {', '.join(framing)} cannot be set (they frame the request)")
            origins[origin] = headers
        return origins

    @field_validator("channels")
    @classmethod
    def _keep_default_channels(cls, value: dict[str, ChannelConfig]) -> dict[str, ChannelConfig]:
        return {**DEFAULT_CHANNELS, **value}

    @field_validator("maintenance_jobs")
    @classmethod
    def _check_jobs(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        merged_schedules(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not (is_sqlite_url(value) or is_postgresql_url(value)):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        return value

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str) -> str:
        if value and not value.startswith(BROKER_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(BROKER_SCHEMES)}")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if self.task_time_limit_s <= self.task_soft_time_limit_s:
            raise ValueError(f"MEDIC_TASK_TIME_LIMIT_S ({self.task_time_limit_s}) must be greater than "
                             f"MEDIC_TASK_SOFT_TIME_LIMIT_S ({self.task_soft_time_limit_s})")
        if self.recovery_countdown_max_s * 2 > self.broker_visibility_timeout_s:
            raise ValueError(f"MEDIC_RECOVERY_COUNTDOWN_MAX_S ({self.recovery_countdown_max_s:g}) must be at most "
                             f"half of MEDIC_BROKER_VISIBILITY_TIMEOUT_S ({self.broker_visibility_timeout_s}): "
                             f"a countdown longer than the visibility timeout is delivered more than once")
        if is_amqp_url(self.broker_url) and self.recovery_countdown_max_s > RABBITMQ_COUNTDOWN_MAX_S:
            raise ValueError(f"MEDIC_RECOVERY_COUNTDOWN_MAX_S ({self.recovery_countdown_max_s:g}) must be at most "
                             f"{RABBITMQ_COUNTDOWN_MAX_S:g} with RabbitMQ: a worker holds a countdown message "
                             f"unacknowledged, and past RabbitMQ's consumer_timeout (1800 s by default) its channel "
                             f"is closed and every message it holds is delivered again")
        self._default_data_dir = "data_dir" not in self.model_fields_set
        self.data_dir = data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{data_dir / 'medic.sqlite'}"
        if not self.broker_url:
            self.broker_url = f"{EMBEDDED_BROKER_PREFIX}{data_dir / 'broker.sqlite'}"
        if (redelivers_after_visibility_timeout(self.broker_url)
                and self.recovery_attempt_timeout_s < self.min_replay_timeout_s):
            raise ValueError(f"MEDIC_RECOVERY_ATTEMPT_TIMEOUT_S ({self.recovery_attempt_timeout_s:g}) must be at least "
                             f"{self.min_replay_timeout_s:g} (1.2 x MEDIC_BROKER_VISIBILITY_TIMEOUT_S): a replay's "
                             f"callback held by a worker that died comes back only after the visibility timeout")
        if not self.breaker_redis_url and is_redis_url(self.broker_url):
            self.breaker_redis_url = self.broker_url
        if self.breaker_store == "redis" and not self.breaker_redis_url:
            raise ValueError("MEDIC_BREAKER_STORE is redis but no Redis is known: set MEDIC_BREAKER_REDIS_URL")
        for setting, channel in (("MEDIC_MAINTENANCE_CHANNEL", self.maintenance_channel),
                                 ("MEDIC_HEALTH__ALERT_CHANNEL", self.health.alert_channel),
                                 ("MEDIC_RECONCILE__ALERT_CHANNEL", self.reconcile.alert_channel),
                                 ("MEDIC_STUCK__ESCALATION_CHANNEL", self.stuck.escalation_channel)):
            if channel not in self.channels:
                raise ValueError(f"{setting} names channel {channel!r}, which is not in MEDIC_CHANNELS "
                                 f"({', '.join(sorted(self.channels))})")
        if self.beat_scheduler == "redbeat" and not self.redbeat_url:
            raise ValueError("MEDIC_BEAT_SCHEDULER is redbeat but no Redis is known: set MEDIC_BEAT_REDIS_URL")
        self.database_url = with_psycopg_driver(self.database_url)
        return self

    @property
    def data_dir_is_default(self) -> bool:
        """No setting named the data directory: it is the user's data directory for medic."""
        return self._default_data_dir

    @property
    def min_replay_timeout_s(self) -> float:
        """The shortest Celery replay deadline that outlasts the redelivery of a callback held by a dead worker."""
        return min_replay_timeout_s(self.broker_visibility_timeout_s)

    @property
    def schedules(self) -> dict[str, JobSchedule]:
        """Every maintenance job's effective schedule."""
        return merged_schedules(self.maintenance_jobs)

    @property
    def redbeat_url(self) -> str:
        if self.beat_redis_url:
            return self.beat_redis_url
        return self.broker_url if is_redis_url(self.broker_url) else ""

    @property
    def uses_redbeat(self) -> bool:
        return self.beat_scheduler == "redbeat" or (self.beat_scheduler == "auto" and bool(self.redbeat_url))

    @property
    def beat_schedule_file(self) -> Path:
        return self.data_dir.expanduser().resolve() / "beat-schedule.json"

    @property
    def beat_heartbeat_file(self) -> Path:
        """Touched by beat on every tick; `medic probe beat` reads its age."""
        return self.data_dir.expanduser().resolve() / "beat-heartbeat"

    @property
    def backup_dir(self) -> Path:
        return (self.backup.dir or self.data_dir / "backups").expanduser().resolve()

    @property
    def breakers_in_redis(self) -> bool:
        return self.breaker_store == "redis" or (self.breaker_store == "auto" and bool(self.breaker_redis_url))


def default_data_dir() -> Path:
    """Where the embedded database and broker live unless told otherwise: the user's data directory
    for medic (platformdirs; on Linux $XDG_DATA_HOME/medic, else ~/.local/share/medic)."""
    return Path(platformdirs.user_data_dir("medic", appauthor=False))


def legacy_data_dir_warning(settings: Settings, cwd: Path | None = None) -> str | None:
    """A warning when the data directory was left to its default and the working directory holds a
    database at the old default (.medic there), which medic no longer uses; else None."""
    if not settings.data_dir_is_default:  # set by MEDIC_DATA_DIR, the config file or the caller
        return None
    legacy = ((cwd or Path.cwd()) / LEGACY_DATA_DIR).expanduser().resolve()
    database = legacy / "medic.sqlite"
    if legacy == settings.data_dir or not database.is_file():
        return None
    return (f"{database} (the data directory medic used to default to, .medic in the working directory) is not "
            f"used: the data directory is now {settings.data_dir}, the user's own wherever medic runs; "
            f"to keep using the old one, set MEDIC_DATA_DIR={legacy}")


def unknown_variable_warnings(names: Iterable[str] | None = None) -> list[str]:
    """A warning for each MEDIC_* environment variable (of `names`, default: this process's) that is no
    setting: pydantic-settings ignores it, so a misspelt setting would leave its default in force."""
    names = os.environ if names is None else names
    return [unknown_variable_warning(name, meant)
            for name, meant in unknown_variables(names, known_variables(Settings, ENV_PREFIX))]


def min_replay_timeout_s(visibility_timeout_s: float) -> float:
    """The shortest Celery replay deadline that outlasts the redelivery of a callback held by a dead worker."""
    return 1.2 * visibility_timeout_s


def default_countdown_max_s(visibility_timeout_s: float) -> float:
    return min(DEFAULT_COUNTDOWN_MAX_S, visibility_timeout_s / 2)


def default_attempt_timeout_s(visibility_timeout_s: float) -> float:
    return max(DEFAULT_ATTEMPT_TIMEOUT_S, min_replay_timeout_s(visibility_timeout_s))


def _number_or(value: Any, fallback: float) -> float:
    """A raw setting as a number; `fallback` when absent or not a number (its own validation says so)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return fallback


def not_valid_json(exc: json.JSONDecodeError) -> str:
    """What is wrong with a JSON value, without the value (it may hold a secret)."""
    return f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


class UndecodableVariable(ValueError):
    """An environment variable whose value pydantic-settings could not decode (JSON of a complex setting)."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


def _problem(exc: ValueError) -> str:
    return not_valid_json(exc) if isinstance(exc, json.JSONDecodeError) else str(exc)


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source; a value it cannot decode raises UndecodableVariable naming the
    variable (pydantic-settings names only the top-level field, so MEDIC_SERVE__TOKENS would be "serve")."""

    def prepare_field_value(self, field_name: str, field: Any, value: Any, value_is_complex: bool) -> Any:
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except UndecodableVariable:
            raise
        except ValueError as exc:  # the field's own variable: MEDIC_<FIELD> as JSON
            raise UndecodableVariable(ENV_PREFIX + field_name.upper(), _problem(exc)) from exc

    def explode_env_vars(self, field_name: str, field: Any, env_vars: Any) -> dict[str, Any]:
        try:
            return super().explode_env_vars(field_name, field, env_vars)
        except ValueError:  # one of the nested variables (MEDIC_<FIELD>__...): find which, one at a time
            for name, value in env_vars.items():
                try:
                    super().explode_env_vars(field_name, field, {name: value})
                except ValueError as exc:
                    raise UndecodableVariable(name.upper(), _problem(exc)) from exc
            raise


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the file named by MEDIC_CONFIG_FILE (TOML or YAML)."""

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        raw_path = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
        if not raw_path:
            return {}
        path = Path(raw_path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"MEDIC_CONFIG_FILE: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"MEDIC_CONFIG_FILE: {path} is not UTF-8 text") from None
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            kind = "TOML" if path.suffix == ".toml" else "YAML"
            raise ConfigError(f"MEDIC_CONFIG_FILE: {path} is not valid {kind}: {exc}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"MEDIC_CONFIG_FILE: {path} must hold a mapping of settings")
        return {str(key).lower().removeprefix("medic_"): value for key, value in data.items()}


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one ConfigError naming each setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except SettingsError as exc:  # an environment value pydantic-settings could not parse (before validation)
        if isinstance(exc.__cause__, UndecodableVariable):
            raise ConfigError(f"invalid configuration:\n  {exc.__cause__}") from None
        raise ConfigError(f"invalid configuration: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    lines = ["invalid configuration:"]
    for error in exc.errors():
        if not error["loc"]:  # a check across settings: its message names them
            lines.append(f"  {problem_text(error)}")
            continue
        # Named as the environment variable that sets it (nested parts joined by the "__" delimiter).
        setting = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
        value = error.get("input")
        hidden = isinstance(value, (dict, list)) or value is None or _SECRET_NAME.search(setting)
        shown = "" if hidden else f" (got {value!r})"
        lines.append(f"  {setting}: {problem_text(error)}{shown}")
    return "\n".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
