"""/readyz: can this process reach the database and the broker now?

The database is checked on a connection of its own (no pool), so a restarted database is seen
as soon as it answers again, and a stopped one within MEDIC_SERVE__PROBE_TIMEOUT_S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kombu import Connection
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from config.urls import is_sqlalchemy_broker_url
from workers.maintenance.health.queues import transport_options
from workers.masking import mask_text
from workers.storage.db import TRANSIENT_DB_ERRORS, make_engine

# libpq treats a connect_timeout below 2 seconds as 2.
LIBPQ_MIN_CONNECT_TIMEOUT_S = 2


@dataclass(frozen=True)
class Readiness:
    problems: dict[str, str] = field(default_factory=dict)  # source -> why it is not reachable

    @property
    def ready(self) -> bool:
        return not self.problems


def probe_engine(database_url: str, timeout_s: float) -> Engine:
    if make_url(database_url).get_backend_name() == "sqlite":
        return make_engine(database_url)
    connect_timeout = max(LIBPQ_MIN_CONNECT_TIMEOUT_S, math.ceil(timeout_s))
    return create_engine(database_url, poolclass=NullPool, connect_args={"connect_timeout": connect_timeout})


def database_problem(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except TRANSIENT_DB_ERRORS as exc:
        cause = getattr(exc, "orig", None) or exc
        return first_line(f"{type(cause).__name__}: {mask_text(str(cause))}")
    return None


def broker_problem(broker_url: str, timeout_s: float) -> str | None:
    connection = Connection(broker_url, connect_timeout=timeout_s,
                            transport_options=transport_options(broker_url, timeout_s))
    try:
        with connection:
            connection.ensure_connection(max_retries=0, timeout=timeout_s)
            if is_sqlalchemy_broker_url(broker_url):
                _ = connection.default_channel  # the SQLAlchemy transport connects lazily
    except Exception as exc:  # noqa: BLE001 - any failure to connect means not ready; the reason is reported
        return first_line(f"{type(exc).__name__}: {mask_text(str(exc))}")
    return None


def check(engine: Engine, broker_url: str, timeout_s: float) -> Readiness:
    problems = {}
    if problem := database_problem(engine):
        problems["database"] = problem
    if problem := broker_problem(broker_url, timeout_s):
        problems["broker"] = problem
    return Readiness(problems)


def first_line(text_: str) -> str:
    return (text_.splitlines() or [""])[0]
