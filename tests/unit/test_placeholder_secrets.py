"""Issue 12, item 14: the placeholders of .env.example are refused as secrets, and never echoed.

A copy of .env.example whose `replace-with-...` values were not replaced would otherwise start Flower
and the API with a password and tokens that anyone can read in medic's repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.serve import is_placeholder
from config.settings import load_settings

ENV_EXAMPLE = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
PLACEHOLDER = "replace-with-openssl-rand-hex-24"
GOOD = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def refusal(monkeypatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    return str(raised.value)


def test_the_env_examples_own_secrets_are_placeholders():
    values = dict(re.findall(r"^(MEDIC_\w+)=(.*)$", ENV_EXAMPLE, re.MULTILINE))
    assert PLACEHOLDER in values["MEDIC_FLOWER__BASIC_AUTH"] and PLACEHOLDER in values["MEDIC_SERVE__TOKENS"]


@pytest.mark.parametrize("value", [PLACEHOLDER, "REPLACE-WITH-a-real-one", "replace-me-please-0123",
                                   "changeme0123456789", "change-me-0123456789"])
def test_placeholders_are_recognised(value):
    assert is_placeholder(value)


@pytest.mark.parametrize("value", [GOOD, "s3cret-pass", "a-replacement-token-0123"])
def test_real_secrets_are_not(value):
    assert not is_placeholder(value)


def test_the_flower_password_of_the_env_example_is_refused(monkeypatch):
    message = refusal(monkeypatch, "MEDIC_FLOWER__BASIC_AUTH", f"admin:{PLACEHOLDER}")
    assert "MEDIC_FLOWER__BASIC_AUTH" in message and "placeholder" in message
    assert PLACEHOLDER not in message and "admin" not in message


def test_one_placeholder_among_several_flower_users_is_refused(monkeypatch):
    message = refusal(monkeypatch, "MEDIC_FLOWER__BASIC_AUTH", f"ops:{GOOD},viewer:{PLACEHOLDER}")
    assert "MEDIC_FLOWER__BASIC_AUTH" in message and PLACEHOLDER not in message and GOOD not in message


def test_an_api_token_of_the_env_example_is_refused(monkeypatch):
    tokens = {"grafana": {"token": PLACEHOLDER, "access": "read"}}
    message = refusal(monkeypatch, "MEDIC_SERVE__TOKENS", json.dumps(tokens))
    assert "MEDIC_SERVE__TOKENS__GRAFANA__TOKEN" in message and "placeholder" in message
    assert PLACEHOLDER not in message


def test_api_tokens_still_need_16_characters(monkeypatch):
    message = refusal(monkeypatch, "MEDIC_SERVE__TOKENS", json.dumps({"grafana": {"token": "short-one"}}))
    assert "at least 16 characters" in message and "short-one" not in message


def test_the_metrics_token_is_checked_like_the_api_tokens(monkeypatch):
    message = refusal(monkeypatch, "MEDIC_SERVE__METRICS_TOKEN", PLACEHOLDER)
    assert "MEDIC_SERVE__METRICS_TOKEN" in message and PLACEHOLDER not in message
    message = refusal(monkeypatch, "MEDIC_SERVE__METRICS_TOKEN", "short-one")
    assert "MEDIC_SERVE__METRICS_TOKEN" in message and "short-one" not in message


def test_real_secrets_are_accepted(monkeypatch):
    monkeypatch.setenv("MEDIC_FLOWER__BASIC_AUTH", f"admin:{GOOD}")
    monkeypatch.setenv("MEDIC_SERVE__TOKENS", json.dumps({"grafana": {"token": GOOD}}))
    monkeypatch.setenv("MEDIC_SERVE__METRICS_TOKEN", GOOD)
    current = load_settings()
    assert current.serve.metrics_token is not None and current.serve.metrics_token.get_secret_value() == GOOD
    assert current.serve.metrics_max_services == 50
