"""Maintenance schedules: defaults, per-job overrides, and errors that name the setting and the job."""

from __future__ import annotations

import json

import pytest
from celery.schedules import crontab

from config.errors import ConfigError
from config.jobs.schedule import DEFAULT_SCHEDULES, JobSchedule, merged_schedules, to_crontab
from config.settings import load_settings


def jobs_error(monkeypatch, overrides) -> str:
    monkeypatch.setenv("MEDIC_MAINTENANCE_JOBS", json.dumps(overrides))
    with pytest.raises(ConfigError) as info:
        load_settings()
    return str(info.value)


def test_no_overrides_are_the_defaults():
    assert merged_schedules({}) == DEFAULT_SCHEDULES


def test_every_default_is_valid_and_hard_limit_exceeds_soft():
    for name, schedule in DEFAULT_SCHEDULES.items():
        assert schedule.enabled, name
        assert schedule.time_limit_s > schedule.soft_time_limit_s, name


def test_override_keeps_the_other_fields_and_the_other_jobs():
    merged = merged_schedules({"stuck": {"every_s": 30}, "backup": {"enabled": False}})
    assert merged["stuck"] == DEFAULT_SCHEDULES["stuck"].model_copy(update={"every_s": 30.0})
    assert merged["backup"].enabled is False and merged["backup"].crontab == DEFAULT_SCHEDULES["backup"].crontab
    assert merged["health"] == DEFAULT_SCHEDULES["health"]


def test_interval_job_switched_to_crontab_and_back():
    merged = merged_schedules({"stuck": {"crontab": "*/5 * * * *"}, "backup": {"every_s": 7200}})
    assert (merged["stuck"].crontab, merged["stuck"].every_s) == ("*/5 * * * *", None)
    assert (merged["backup"].every_s, merged["backup"].crontab) == (7200.0, None)
    assert merged["stuck"].describe() == "cron */5 * * * *"
    assert merged["backup"].describe() == "every 7200s"


def test_overrides_from_the_environment(monkeypatch):
    monkeypatch.setenv("MEDIC_MAINTENANCE_JOBS", '{"log-rotation": {"enabled": false}, "cleanup": {"every_s": 60}}')
    schedules = load_settings().schedules
    assert schedules["log-rotation"].enabled is False
    assert schedules["cleanup"].every_s == 60


def test_overrides_from_the_config_file(monkeypatch, tmp_path):
    path = tmp_path / "medic.toml"
    path.write_text('[maintenance_jobs.backup]\ncrontab = "0 3 * * *"\ntime_limit_s = 7200\n')
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(path))
    backup = load_settings().schedules["backup"]
    assert (backup.crontab, backup.time_limit_s, backup.soft_time_limit_s) == ("0 3 * * *", 7200, 3300)


def test_environment_entries_merge_over_the_config_file_field_by_field(monkeypatch, tmp_path):
    path = tmp_path / "medic.toml"
    path.write_text('[maintenance_jobs.backup]\ntime_limit_s = 7200\n[maintenance_jobs.cleanup]\nenabled = false\n')
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(path))
    monkeypatch.setenv("MEDIC_MAINTENANCE_JOBS", '{"backup": {"crontab": "0 3 * * *"}}')
    schedules = load_settings().schedules
    assert (schedules["backup"].crontab, schedules["backup"].time_limit_s) == ("0 3 * * *", 7200)
    assert schedules["cleanup"].enabled is False


@pytest.mark.parametrize("overrides, says", [
    ({"nightly": {"enabled": False}}, "unknown job 'nightly'; jobs: stuck, health, reconcile"),
    ({"backup": {"crontab": "61 * * * *"}}, "job 'backup': crontab: '61 * * * *': minute '61'"),
    ({"backup": {"crontab": "0 3 * *"}}, "job 'backup': crontab: '0 3 * *': a crontab has 5 fields"),
    ({"backup": {"crontab": "0 3 * * fryday"}},
     "crontab: '0 3 * * fryday': day-of-week 'fryday': Invalid weekday literal 'fryday'"),
    ({"backup": {"crontab": "0 noon * * *"}}, "hour 'noon': use numbers, ranges (1-5), lists (1,3) and steps (*/15)"),
    ({"backup": {"crontab": "0,,5 * * * *"}}, "minute '0,,5': empty part"),
    ({"backup": {"crontab": "*/0 * * * *"}}, "minute '*/0': slice step cannot be zero"),
    ({"backup": {"every_s": 60, "crontab": "0 3 * * *"}},
     "job 'backup': schedule: set exactly one of every_s and crontab"),
    ({"stuck": {"every_s": None}}, "job 'stuck': schedule: set exactly one of every_s and crontab"),
    ({"stuck": {"every_s": 0}}, "job 'stuck': every_s: Input should be greater than 0"),
    ({"stuck": {"soft_time_limit_s": 90, "time_limit_s": 60}},
     "job 'stuck': schedule: time_limit_s (60) must be greater than soft_time_limit_s (90)"),
    ({"stuck": {"soft_time_limit_s": 80}}, "time_limit_s (80) must be greater than soft_time_limit_s (80)"),
    ({"stuck": {"every": 60}}, "job 'stuck': every: Extra inputs are not permitted"),
])
def test_bad_override_names_the_setting_and_the_job(monkeypatch, overrides, says):
    message = jobs_error(monkeypatch, overrides)
    assert "MEDIC_MAINTENANCE_JOBS" in message
    assert says in message
    assert "Traceback" not in message


def test_a_job_that_is_not_an_object_is_named(monkeypatch):
    message = jobs_error(monkeypatch, {"stuck": 5})
    assert "MEDIC_MAINTENANCE_JOBS__STUCK" in message and "dictionary" in message


def test_schedule_needs_exactly_one_kind():
    with pytest.raises(ValueError, match="exactly one"):
        JobSchedule()
    with pytest.raises(ValueError, match="exactly one"):
        JobSchedule(every_s=1, crontab="* * * * *")


@pytest.mark.parametrize("text, expected", [
    ("30 2 * * *", crontab(minute="30", hour="2")),
    ("0 4 * * 0", crontab(minute="0", hour="4", day_of_week="0")),
    ("*/15 8-18 * * mon-fri", crontab(minute="*/15", hour="8-18", day_of_week="mon-fri")),
    ("0 0 1 1,7 *", crontab(minute="0", hour="0", day_of_month="1", month_of_year="1,7")),
])
def test_to_crontab_reads_minute_hour_day_month_weekday(text, expected):
    assert to_crontab(text) == expected
