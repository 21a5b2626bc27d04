"""The job registry: the same names as the schedules, and a clear error for an unknown job."""

from __future__ import annotations

import pytest

from config.errors import NotFound
from config.jobs.schedule import DEFAULT_SCHEDULES
from workers.maintenance.registry import JOBS, get_job


def test_registry_and_schedules_name_the_same_jobs_in_the_same_order():
    assert list(JOBS) == list(DEFAULT_SCHEDULES)


def test_each_spec_is_keyed_by_its_own_name_and_described():
    for name, spec in JOBS.items():
        assert spec.name == name
        assert spec.description.endswith(".")
        module, _, function = spec.target.partition(":")
        assert module.startswith("workers.maintenance.") and function


def test_get_job():
    assert get_job("db-maintenance") is JOBS["db-maintenance"]


def test_unknown_job_lists_the_jobs():
    with pytest.raises(NotFound, match="no maintenance job 'vacuum'; jobs: stuck, health, .*db-maintenance"):
        get_job("vacuum")


def test_db_maintenance_target_resolves():
    assert callable(JOBS["db-maintenance"].function())
