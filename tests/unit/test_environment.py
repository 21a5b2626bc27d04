"""Unit tests for config.environment: which MEDIC_* variables are settings, and what a misspelt one means."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.environment import known_variables, unknown_variable_warning, unknown_variables
from config.settings import Settings

REPO = Path(__file__).resolve().parents[2]
KNOWN = known_variables(Settings)
NAME = re.compile(r"\bMEDIC_[A-Z0-9_]*[A-Z0-9]\b")


def unknown(*names: str) -> dict[str, str | None]:
    return dict(unknown_variables(names, KNOWN))


def test_a_misspelt_setting_is_unknown_and_the_close_setting_suggested():
    assert unknown("MEDIC_DATABSE_URL", "MEDIC_DATABASE_URL", "PATH") == {"MEDIC_DATABSE_URL": "MEDIC_DATABASE_URL"}


@pytest.mark.parametrize(("name", "meant"), [
    ("MEDIC_FLOWER__BASIC_AUTHH", "MEDIC_FLOWER__BASIC_AUTH"),
    ("MEDIC_FLOWER_BASIC_AUTH", "MEDIC_FLOWER__BASIC_AUTH"),
    ("MEDIC_REPLAY_TARGETS_CELERY_TASKS", "MEDIC_REPLAY_TARGETS__CELERY_TASKS"),
    ("MEDIC_LOGLEVEL", "MEDIC_LOG_LEVEL"),
    ("MEDIC_BROKER_URI", "MEDIC_BROKER_URL"),
])
def test_nested_settings_are_suggested_with_their_delimiter(name, meant):
    assert unknown(name) == {name: meant}


def test_a_name_close_to_nothing_is_unknown_without_a_suggestion():
    assert unknown("MEDIC_XYZZY") == {"MEDIC_XYZZY": None}


@pytest.mark.parametrize("name", [
    "MEDIC_DATABASE_URL", "MEDIC_FLOWER__BASIC_AUTH", "MEDIC_REPLAY_TARGETS__CELERY_TASKS",
    "MEDIC_FLOWER", "MEDIC_REPLAY_TARGETS",  # a group as JSON
    "MEDIC_CHANNELS__OPS__TYPE", "MEDIC_MAINTENANCE_JOBS__BACKUP__ENABLED",  # entries of mappings
    "MEDIC_SERVE__TOKENS__GRAFANA__TOKEN", "MEDIC_REPLAY_HTTP_HEADERS__API.EXAMPLE",
    "medic_log_level",  # the environment is read without regard to case
    "MEDIC_TEST_PG_ADMIN_DSN", "MEDIC_TEST_REDIS_URL",  # the test suite's own
    "MEDIC_IMAGE", "MEDIC_ENV_FILE",  # docker-compose.yml's own
    "PATH", "CELERY_BROKER_URL",
])
def test_settings_and_variables_that_are_not_medics_settings_are_not_warned_about(name):
    assert unknown(name) == {}


def test_every_name_is_reported_once_in_the_order_given():
    assert list(unknown("MEDIC_B", "MEDIC_A", "MEDIC_B")) == ["MEDIC_B", "MEDIC_A"]


def test_every_documented_setting_is_known():
    documented = set(NAME.findall((REPO / "docs" / "configuration.md").read_text(encoding="utf-8")))
    assert documented and not unknown(*sorted(documented))


@pytest.mark.parametrize("path", ["docker-compose.yml", ".env.example", "tests/support/services.py"])
def test_the_variables_the_repository_sets_are_known(path):
    assert not unknown(*sorted(set(NAME.findall((REPO / path).read_text(encoding="utf-8")))))


def test_the_warning_names_the_variable_and_what_it_may_mean():
    assert unknown_variable_warning("MEDIC_DATABSE_URL", "MEDIC_DATABASE_URL") == (
        "MEDIC_DATABSE_URL is not a medic setting and is ignored; did you mean MEDIC_DATABASE_URL?")
    assert unknown_variable_warning("MEDIC_XYZZY", None) == "MEDIC_XYZZY is not a medic setting and is ignored"
