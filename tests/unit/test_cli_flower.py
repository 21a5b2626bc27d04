"""Unit tests for `medic flower`: Celery's arguments and Flower's environment, built without exec."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from config.errors import ConfigError
from config.flower import FlowerSettings
from workers.cli import flower as flower_cli
from workers.cli import processes as processes_cli
from workers.cli.flower import flower_command

PASSWORD = "s3cret-pass"
ENVIRON = {"PATH": "/usr/bin", "MEDIC_BROKER_URL": "redis://r/0", "FLOWER_MAX_TASKS": "5000",
           "FLOWER_BASIC_AUTH": "old:inherited", "FLOWER_UNAUTHENTICATED_API": "true", "FLOWER_AUTH": ".*@x.com",
           "FLOWER_PORT": "1", "FLOWER_ADDRESS": "0.0.0.0", "FLOWER_UNIX_SOCKET": "/tmp/f.sock",
           "FLOWER_URL_PREFIX": "elsewhere"}


def settings(**fields) -> FlowerSettings:
    return FlowerSettings(**{"basic_auth": f"ops:{PASSWORD},viewer:other-pass", **fields})


def test_credentials_go_to_flowers_environment_never_its_arguments():
    arguments, env = flower_command(settings(), ENVIRON)
    assert arguments == ["flower", "--address=127.0.0.1", "--port=5555"]
    assert env["FLOWER_BASIC_AUTH"] == f"ops:{PASSWORD},viewer:other-pass"
    assert PASSWORD not in " ".join(arguments)


def test_inherited_flower_variables_that_change_access_or_address_are_dropped_others_kept():
    _, env = flower_command(settings(), ENVIRON)
    assert {k for k in env if k.startswith("FLOWER_")} == {"FLOWER_BASIC_AUTH", "FLOWER_MAX_TASKS"}
    assert env["PATH"] == "/usr/bin" and env["MEDIC_BROKER_URL"] == "redis://r/0"
    assert ENVIRON["FLOWER_BASIC_AUTH"] == "old:inherited"  # the caller's mapping is left alone


def test_settings_give_address_port_and_url_prefix_options_override_them():
    arguments, _ = flower_command(settings(address="0.0.0.0", port=8080, url_prefix="/flower/"), {})
    assert arguments == ["flower", "--address=0.0.0.0", "--port=8080", "--url_prefix=flower"]
    arguments, _ = flower_command(settings(port=8080), {}, address="10.0.0.5", port=9000)
    assert arguments == ["flower", "--address=10.0.0.5", "--port=9000"]


def test_without_basic_auth_it_refuses_naming_the_setting():
    with pytest.raises(ConfigError, match="MEDIC_FLOWER__BASIC_AUTH is not set"):
        flower_command(FlowerSettings(), ENVIRON)


def test_no_auth_runs_open_even_with_inherited_credentials():
    arguments, env = flower_command(FlowerSettings(), ENVIRON, no_auth=True)
    assert arguments[0] == "flower"
    assert not any(k in env for k in ("FLOWER_BASIC_AUTH", "FLOWER_AUTH", "FLOWER_UNAUTHENTICATED_API"))


def test_a_comma_inside_a_pair_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as raised:
        flower_command(FlowerSettings(basic_auth=["ops:pa,ss"]), {})
    assert "MEDIC_FLOWER__BASIC_AUTH" in str(raised.value) and "pa,ss" not in str(raised.value)


@pytest.fixture
def exec_calls(monkeypatch):
    from config.settings import load_settings

    calls = []
    monkeypatch.setattr(processes_cli.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.setattr(flower_cli, "_validated", lambda: load_settings(broker_url="redis://127.0.0.1:6379/0",
                                                                      flower={"basic_auth": f"ops:{PASSWORD}"}))
    return calls


def test_the_command_execs_celery_flower_on_medics_app(exec_calls):
    result = CliRunner().invoke(flower_cli.flower, ["--port", "6000", "--address", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    [(path, argv, env)] = exec_calls
    assert path == sys.executable
    assert argv == [sys.executable, "-P", "-m", "workers.cli.celery_entry", "-A", "config.celery_app", "flower",
                    "--address=0.0.0.0", "--port=6000"]
    assert env["FLOWER_BASIC_AUTH"] == f"ops:{PASSWORD}"


def test_no_auth_warns_on_stderr(exec_calls):
    result = CliRunner().invoke(flower_cli.flower, ["--no-auth"])
    assert result.exit_code == 0
    assert "WITHOUT authentication" in result.stderr and "127.0.0.1:5555" in result.stderr
    assert "FLOWER_BASIC_AUTH" not in exec_calls[0][2]


@pytest.mark.parametrize("broker_url", ["sqla+sqlite:////srv/medic/broker.sqlite",
                                        "sqla+postgresql://medic:s3cret-pass@db/medic"])
def test_on_a_sqlalchemy_broker_it_refuses_before_starting_flower_saying_what_to_use(monkeypatch, broker_url):
    from config.settings import load_settings

    calls = []
    monkeypatch.setattr(processes_cli.os, "execve", lambda path, argv, env: calls.append(argv))
    monkeypatch.setattr(flower_cli, "_validated", lambda: load_settings(broker_url=broker_url,
                                                                      flower={"basic_auth": f"ops:{PASSWORD}"}))
    result = CliRunner().invoke(flower_cli.flower, [])
    assert isinstance(result.exception, ConfigError) and not calls  # main prints it, exit 3
    message = str(result.exception)
    assert "\n" not in message and PASSWORD not in message
    assert "Flower needs a broker with broadcast and events (Redis or RabbitMQ)" in message
    assert f"MEDIC_BROKER_URL is {broker_url.split(':')[0]}:" in message
    for instead in ("medic health", "medic executions list", "medic probe worker"):
        assert instead in message
