"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.support.databases import database_at
from workers.storage import migrate
from workers.storage.db import engine_for
from workers.storage.models import Base

pytestmark = pytest.mark.integration


def test_migrated_schema_matches_the_models(database_url):
    with engine_for(database_url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert migrate.current_revision(database_url) == migrate.head_revision(database_url)


def test_downgrade_to_base_and_upgrade_again(database_url):
    config = migrate.alembic_config(database_url)
    with engine_for(database_url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert migrate.current_revision(database_url) is None
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)  # a second run changes nothing
    assert migrate.current_revision(database_url) == migrate.head_revision(database_url)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0009_adds_console_logouts_and_its_downgrade_drops_it(kind, tmp_path):
    with database_at(kind, tmp_path, "0008") as url:
        assert "console_logouts" not in inspect(engine_for(url)).get_table_names()
        migrate.upgrade(url)
        assert "console_logouts" in inspect(engine_for(url)).get_table_names()
        config = migrate.alembic_config(url)
        with engine_for(url).begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
        assert "console_logouts" not in inspect(engine_for(url)).get_table_names()
