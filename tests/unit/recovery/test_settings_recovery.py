"""Recovery settings: cross-checks at startup, channels, replay credentials by origin."""

from __future__ import annotations

import httpx
import pytest

from config.errors import ConfigError
from config.settings import load_settings
from workers.recovery.destinations import destination_of
from workers.recovery.http_replay import credentials_for


def test_a_countdown_longer_than_half_the_visibility_timeout_is_refused():
    with pytest.raises(ConfigError, match="MEDIC_RECOVERY_COUNTDOWN_MAX_S"):
        load_settings(broker_visibility_timeout_s=60, recovery_countdown_max_s=31)
    assert load_settings(broker_visibility_timeout_s=60, recovery_countdown_max_s=30)


def test_the_log_channel_is_always_there_and_secrets_print_masked(monkeypatch):
    monkeypatch.setenv("MEDIC_CHANNELS", '{"ops": {"type": "slack", "url": "https://hooks.example/T0/secret"}}')
    settings = load_settings()
    assert set(settings.channels) == {"log", "ops"}
    assert "secret" not in repr(settings.channels)


def test_an_unknown_channel_type_names_the_setting(monkeypatch):
    monkeypatch.setenv("MEDIC_CHANNELS", '{"ops": {"type": "pager"}}')
    with pytest.raises(ConfigError, match="MEDIC_CHANNELS"):
        load_settings()


def test_breakers_live_in_redis_when_the_broker_is_redis():
    assert load_settings(broker_url="redis://h:6379/0").breakers_in_redis
    assert not load_settings(broker_url="redis://h:6379/0", breaker_store="database").breakers_in_redis
    assert not load_settings().breakers_in_redis
    with pytest.raises(ConfigError, match="MEDIC_BREAKER_REDIS_URL"):
        load_settings(breaker_store="redis")


@pytest.mark.parametrize("url, expected", [
    ("https://api.partner.com/x", {"Authorization": "Bearer abc"}),
    ("https://API.partner.com:443/y", {"Authorization": "Bearer abc"}),
    ("http://api.partner.com/x", {}),  # a bare host means https: never in the clear
    ("https://api.partner.com:8443/x", {}),
    ("https://other.partner.com/x", {}),
])
def test_replay_credentials_come_from_settings_by_exact_origin(url, expected):
    settings = load_settings(replay_http_headers={"api.partner.com": {"Authorization": "Bearer abc"}})
    assert credentials_for(destination_of(httpx.URL(url)), settings.replay_http_headers) == expected
