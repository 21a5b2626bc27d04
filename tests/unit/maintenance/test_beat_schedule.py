"""The beat schedule built from settings, and the beat part of the Celery configuration."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest
from celery import Celery
from celery.schedules import crontab
from redbeat.schedulers import RedBeatConfig

from config.celery_app import celery_config
from config.jobs.schedule import DEFAULT_SCHEDULES
from config.queues import MAINTENANCE_QUEUE
from config.settings import load_settings
from schedules.beat import CRONTAB_EXPIRES_S, beat_schedule

REDIS = "redis://127.0.0.1:6379/5"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/medic"


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_enabled_job_and_the_recovery_sweep(in_tmp):
    entries = beat_schedule(load_settings())
    assert set(entries) == {"recovery-sweep", *(f"maintenance:{name}" for name in DEFAULT_SCHEDULES)}


def test_recovery_sweep_entry(in_tmp):
    sweep = beat_schedule(load_settings(recovery_sweep_interval_s=3))["recovery-sweep"]
    assert sweep == {"task": "medic.recovery.sweep", "schedule": 3, "options": {"expires": 6}}


def test_disabled_jobs_are_not_scheduled(in_tmp):
    entries = beat_schedule(load_settings(maintenance_jobs={"backup": {"enabled": False},
                                                            "health": {"enabled": False}}))
    assert "maintenance:backup" not in entries and "maintenance:health" not in entries
    assert "maintenance:stuck" in entries


def test_interval_entry(in_tmp):
    entry = beat_schedule(load_settings(maintenance_jobs={"stuck": {"every_s": 45, "soft_time_limit_s": 20,
                                                                    "time_limit_s": 25}}))["maintenance:stuck"]
    assert entry == {
        "task": "medic.maintenance.run",
        "schedule": timedelta(seconds=45),
        "args": ["stuck"],
        "options": {"queue": MAINTENANCE_QUEUE, "soft_time_limit": 20, "time_limit": 25, "expires": 45},
    }


def test_crontab_entry(in_tmp):
    entry = beat_schedule(load_settings(maintenance_jobs={"cleanup": {"crontab": "15 3 * * *"}}))["maintenance:cleanup"]
    assert entry["schedule"] == crontab(minute="15", hour="3")
    assert entry["args"] == ["cleanup"]
    assert entry["options"] == {"queue": MAINTENANCE_QUEUE, "soft_time_limit": 1500, "time_limit": 1800,
                                "expires": CRONTAB_EXPIRES_S}


def test_default_backup_is_a_nightly_crontab(in_tmp):
    backup = beat_schedule(load_settings())["maintenance:backup"]
    assert backup["schedule"] == crontab(minute="30", hour="2")
    assert backup["options"]["queue"] == MAINTENANCE_QUEUE


def test_redis_broker_uses_redbeat_with_its_lock(in_tmp):
    config = celery_config(load_settings(broker_url=REDIS, database_url=POSTGRES, beat_lock_timeout_s=20))
    assert config["beat_scheduler"] == "workers.beat_redbeat:HeartbeatRedBeatScheduler"
    assert config["redbeat_redis_url"] == REDIS
    assert config["redbeat_lock_timeout"] == 20
    # The lock is extended on every tick: at most 4 s apart, so a few slow ticks do not lose it.
    assert config["beat_max_loop_interval"] == 4
    assert "beat_schedule_filename" not in config


def test_smallest_lock_timeout_still_ticks_within_it(in_tmp):
    config = celery_config(load_settings(broker_url=REDIS, database_url=POSTGRES, beat_lock_timeout_s=5))
    assert config["beat_max_loop_interval"] == 1


def test_redbeat_reads_our_keys_without_falling_back_to_broker_options(in_tmp):
    app = Celery("medic-test")
    app.conf.update(celery_config(load_settings(broker_url=REDIS, database_url=POSTGRES)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # RedBeat warns when it borrows the broker's transport options
        conf = RedBeatConfig(app)
    assert conf.key_prefix == "medic:redbeat:"
    assert conf.schedule_key == "medic:redbeat::schedule"
    assert conf.statics_key == "medic:redbeat::statics"
    assert conf.lock_key == "medic:redbeat::lock"
    assert conf.lock_timeout == 30
    assert conf.redbeat_redis_options == {}


def test_separate_beat_redis(in_tmp):
    other = "redis://127.0.0.1:6379/9"
    config = celery_config(load_settings(broker_url="amqp://guest@localhost//", database_url=POSTGRES,
                                         beat_redis_url=other))
    assert config["beat_scheduler"] == "workers.beat_redbeat:HeartbeatRedBeatScheduler"
    assert config["redbeat_redis_url"] == other


def test_embedded_defaults_use_the_json_file_scheduler(in_tmp):
    settings = load_settings(data_dir=in_tmp / "data")
    config = celery_config(settings)
    assert config["beat_scheduler"] == "workers.beat_file:JsonFileScheduler"
    assert config["beat_schedule_filename"] == str((in_tmp / "data" / "beat-schedule.json").resolve())
    assert not any(key.startswith("redbeat") for key in config)


def test_file_scheduler_can_be_chosen_with_redis(in_tmp):
    config = celery_config(load_settings(broker_url=REDIS, database_url=POSTGRES, beat_scheduler="file"))
    assert config["beat_scheduler"] == "workers.beat_file:JsonFileScheduler"


def test_redbeat_without_redis_is_a_config_error(in_tmp):
    from config.errors import ConfigError

    with pytest.raises(ConfigError,
                       match="MEDIC_BEAT_SCHEDULER is redbeat but no Redis is known: set MEDIC_BEAT_REDIS_URL"):
        load_settings(beat_scheduler="redbeat")
