"""What kind of database or broker a URL names, told by its scheme: the one place that knows the prefixes."""

from __future__ import annotations

from pathlib import Path

from kombu.transport import TRANSPORT_ALIASES

REDIS_SCHEMES = ("redis://", "rediss://")
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")
# kombu's SQLAlchemy transport: "sqla+" then a SQLAlchemy URL. medic's own transport on the same
# tables, at least once (workers/broker_transport.py), is "medic+": the embedded default on SQLite.
SQLALCHEMY_BROKER_PREFIX = "sqla+"
MEDIC_BROKER_PREFIX = "medic+"
SQLALCHEMY_BROKER_PREFIXES = (SQLALCHEMY_BROKER_PREFIX, MEDIC_BROKER_PREFIX)
EMBEDDED_BROKER_PREFIX = "medic+sqlite:///"
MEDIC_TRANSPORT = "workers.broker_transport:Transport"
# medic's consumer on a Redis broker: kombu's, with a fetch that records what it pops in the same
# step (workers/broker_redis.py). Chosen by config/celery_app.py for every redis:// URL.
MEDIC_REDIS_TRANSPORT = "workers.broker_redis:Transport"
BROKER_SCHEMES = (*REDIS_SCHEMES, *AMQP_SCHEMES, *SQLALCHEMY_BROKER_PREFIXES, "memory://")

SQLITE_PREFIX = "sqlite"
POSTGRESQL_PREFIX = "postgresql"
# The driver medic installs; a plain postgresql:// URL would make SQLAlchemy look for psycopg2.
PSYCOPG_PREFIX = "postgresql+psycopg://"


def is_redis_url(url: str) -> bool:
    return url.startswith(REDIS_SCHEMES)


def is_amqp_url(url: str) -> bool:
    """RabbitMQ (or another AMQP broker)."""
    return url.startswith(AMQP_SCHEMES)


def is_sqlalchemy_broker_url(url: str) -> bool:
    """kombu's SQLAlchemy transport (or medic's on its tables), on any database."""
    return url.startswith(SQLALCHEMY_BROKER_PREFIXES)


def is_sqlite_broker_url(url: str) -> bool:
    """A broker in a SQLite file: the embedded broker (medic's transport, or kombu's)."""
    return url.startswith(tuple(prefix + SQLITE_PREFIX for prefix in SQLALCHEMY_BROKER_PREFIXES))


def sqlite_broker_file(url: str) -> Path | None:
    """The file of a SQLite broker URL; None for any other broker, or an in-memory one."""
    if not is_sqlite_broker_url(url):
        return None
    name = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(name).expanduser().resolve() if name and name != ":memory:" else None


def redelivers_after_visibility_timeout(url: str) -> bool:
    """A broker that gives a message held by a dead consumer again only after a visibility timeout."""
    return is_redis_url(url) or url.startswith(MEDIC_BROKER_PREFIX)


def register_medic_transport() -> None:
    """Teach kombu the `medic+` scheme (by name: nothing is imported until a connection needs it)."""
    TRANSPORT_ALIASES.setdefault(MEDIC_BROKER_PREFIX.rstrip("+"), MEDIC_TRANSPORT)


def is_sqlite_url(url: str) -> bool:
    return url.startswith(SQLITE_PREFIX)


def is_postgresql_url(url: str) -> bool:
    return url.startswith(POSTGRESQL_PREFIX)


def with_psycopg_driver(url: str) -> str:
    """postgresql://... as postgresql+psycopg://...; any other URL as it is."""
    if url.startswith(f"{POSTGRESQL_PREFIX}://"):
        return PSYCOPG_PREFIX + url.removeprefix(f"{POSTGRESQL_PREFIX}://")
    return url
