"""The startup warning about a Redis broker without its append-only file, against the real Redis."""

from __future__ import annotations

import pytest
import redis

from tests.support.services import medic_env, start_worker
from workers import broker_persistence
from workers.broker_persistence import persistence_warning

pytestmark = pytest.mark.integration


def test_the_warning_follows_what_the_server_reports(redis_url):
    setting = redis.Redis.from_url(redis_url).config_get("appendonly")["appendonly"]
    warning = persistence_warning(redis_url)
    assert (warning is None) == (setting == "yes")
    if warning:
        assert f"appendonly {setting}" in warning and "--appendonly yes" in warning


def test_no_warning_when_it_cannot_tell_or_for_another_broker(monkeypatch):
    assert persistence_warning("sqla+sqlite:////tmp/broker.sqlite") is None
    assert persistence_warning("amqp://guest:guest@127.0.0.1:5672//") is None
    assert persistence_warning("redis://127.0.0.1:1/0") is None  # not reachable: the worker says so itself

    def disabled(self, *args, **kwargs):
        raise redis.ResponseError("unknown command 'CONFIG'")  # managed Redis services often rename it away

    monkeypatch.setattr(broker_persistence.redis.Redis, "config_get", disabled)
    assert persistence_warning("redis://127.0.0.1:6379/0") is None


def test_a_worker_says_so_when_it_starts(redis_url, tmp_path):
    setting = redis.Redis.from_url(redis_url).config_get("appendonly")["appendonly"]
    worker = start_worker(medic_env(broker_url=redis_url, data_dir=tmp_path / "data"), tmp_path / "worker.log",
                          concurrency=1)
    try:
        assert ("medic: warning: the broker's Redis has appendonly" in worker.output()) == (setting != "yes")
    finally:
        worker.terminate()
