"""What kind of database or broker a URL names, told by its scheme: the one place that knows the prefixes."""

from __future__ import annotations

REDIS_SCHEMES = ("redis://", "rediss://")
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")
# kombu's SQLAlchemy transport: "sqla+" then a SQLAlchemy URL; medic's embedded broker is the SQLite one.
SQLALCHEMY_BROKER_PREFIX = "sqla+"
SQLITE_BROKER_PREFIX = "sqla+sqlite:///"
BROKER_SCHEMES = (*REDIS_SCHEMES, *AMQP_SCHEMES, SQLALCHEMY_BROKER_PREFIX, "memory://")

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
    """kombu's SQLAlchemy transport, on any database."""
    return url.startswith(SQLALCHEMY_BROKER_PREFIX)


def is_sqlite_broker_url(url: str) -> bool:
    """kombu's SQLAlchemy transport on SQLite: the embedded broker."""
    return url.startswith(SQLALCHEMY_BROKER_PREFIX + SQLITE_PREFIX)


def is_sqlite_url(url: str) -> bool:
    return url.startswith(SQLITE_PREFIX)


def is_postgresql_url(url: str) -> bool:
    return url.startswith(POSTGRESQL_PREFIX)


def with_psycopg_driver(url: str) -> str:
    """postgresql://... as postgresql+psycopg://...; any other URL as it is."""
    if url.startswith(f"{POSTGRESQL_PREFIX}://"):
        return PSYCOPG_PREFIX + url.removeprefix(f"{POSTGRESQL_PREFIX}://")
    return url
