"""Unit tests for config.settings: defaults, MEDIC_* environment, config file, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from config.errors import ConfigError
from config.settings import (
    Settings,
    default_data_dir,
    legacy_data_dir_warning,
    load_settings,
    unknown_variable_warnings,
)
from config.urls import is_sqlalchemy_broker_url, is_sqlite_broker_url, is_sqlite_url


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run with tmp_path as the working directory, the user's data directory under it (XDG_DATA_HOME)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config_error(**overrides) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    return str(info.value)


# --------------------------------------------------------------------------- defaults


def test_defaults(in_tmp):
    s = load_settings()
    assert isinstance(s, Settings)
    assert s.config_file is None
    assert s.data_dir == default_data_dir()
    assert s.rules_files == []
    assert (s.max_message_chars, s.max_traceback_chars) == (8_192, 32_768)
    assert (s.max_context_bytes, s.max_event_bytes) == (65_536, 262_144)
    assert s.max_nesting_depth == 12
    assert s.rejected_payload_max_bytes == 16_384
    assert (s.task_soft_time_limit_s, s.task_time_limit_s) == (30, 60)
    assert (s.log_level, s.log_format) == ("INFO", "json")
    assert is_sqlite_url(s.database_url) and is_sqlite_broker_url(s.broker_url)


def test_default_data_dir_is_the_users_data_dir_whatever_the_working_directory(in_tmp, monkeypatch):
    first = load_settings().data_dir
    (in_tmp / "elsewhere").mkdir()
    monkeypatch.chdir(in_tmp / "elsewhere")
    assert load_settings().data_dir == first == Path(platformdirs.user_data_dir("medic"))
    assert first.is_absolute()
    if sys.platform.startswith("linux"):
        assert first == in_tmp / "xdg" / "medic"


def test_default_urls_are_embedded_sqlite_under_absolute_data_dir(in_tmp):
    s = load_settings()
    data_dir = Path(platformdirs.user_data_dir("medic"))
    assert s.database_url == f"sqlite:///{data_dir / 'medic.sqlite'}"
    assert s.broker_url == f"medic+sqlite:///{data_dir / 'broker.sqlite'}"
    assert Path(s.database_url.removeprefix("sqlite:///")).is_absolute()
    assert Path(s.broker_url.removeprefix("medic+sqlite:///")).is_absolute()


def test_default_urls_follow_data_dir(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_DATA_DIR", "state/here")
    s = load_settings()
    data_dir = (in_tmp / "state" / "here").resolve()
    assert s.data_dir == data_dir
    assert s.database_url == f"sqlite:///{data_dir / 'medic.sqlite'}"
    assert s.broker_url == f"medic+sqlite:///{data_dir / 'broker.sqlite'}"


def test_an_old_default_data_dir_in_the_working_directory_is_named_with_the_way_to_keep_it(in_tmp):
    (in_tmp / ".medic").mkdir()
    assert legacy_data_dir_warning(load_settings(), in_tmp) is None  # no database there: nothing to keep
    (in_tmp / ".medic" / "medic.sqlite").write_bytes(b"")
    warning = legacy_data_dir_warning(load_settings(), in_tmp)
    assert warning is not None and "\n" not in warning
    assert str(in_tmp / ".medic" / "medic.sqlite") in warning and str(default_data_dir()) in warning
    assert f"MEDIC_DATA_DIR={in_tmp / '.medic'}" in warning


def test_no_old_data_dir_warning_when_the_data_dir_is_set_or_is_that_one(in_tmp, monkeypatch):
    (in_tmp / ".medic").mkdir()
    (in_tmp / ".medic" / "medic.sqlite").write_bytes(b"")
    assert legacy_data_dir_warning(load_settings(data_dir=str(in_tmp / "data")), in_tmp) is None
    monkeypatch.setenv("MEDIC_DATA_DIR", ".medic")
    assert legacy_data_dir_warning(load_settings(), in_tmp) is None
    monkeypatch.setenv("MEDIC_DATA_DIR", str(in_tmp / "other"))
    assert legacy_data_dir_warning(load_settings(), in_tmp) is None


# --------------------------------------------------------------------------- environment


@pytest.mark.parametrize(
    ("env", "value", "attribute", "expected"),
    [
        ("MEDIC_MAX_EVENT_BYTES", "5000", "max_event_bytes", 5000),
        ("MEDIC_MAX_MESSAGE_CHARS", "300", "max_message_chars", 300),
        ("MEDIC_MAX_NESTING_DEPTH", "3", "max_nesting_depth", 3),
        ("MEDIC_WORKER_CONCURRENCY", "8", "worker_concurrency", 8),
        ("MEDIC_LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("MEDIC_LOG_LEVEL", "WARNING", "log_level", "WARNING"),
        ("MEDIC_LOG_FORMAT", "text", "log_format", "text"),
        ("MEDIC_BROKER_URL", "redis://localhost:6379/0", "broker_url", "redis://localhost:6379/0"),
        ("MEDIC_BROKER_URL", "amqp://guest@rabbit//", "broker_url", "amqp://guest@rabbit//"),
        ("MEDIC_DATABASE_URL", "postgresql+psycopg://u@h/db", "database_url", "postgresql+psycopg://u@h/db"),
        ("MEDIC_RULES_FILES", '["a.yaml", "b.yaml"]', "rules_files", [Path("a.yaml"), Path("b.yaml")]),
    ],
)
def test_environment_overrides(in_tmp, monkeypatch, env, value, attribute, expected):
    monkeypatch.setenv(env, value)
    assert getattr(load_settings(), attribute) == expected


def test_not_embedded_with_postgres_and_redis(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("MEDIC_BROKER_URL", "redis://localhost:6379/0")
    s = load_settings()
    assert not is_sqlite_url(s.database_url) and not is_sqlalchemy_broker_url(s.broker_url)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/medic", "postgresql+psycopg://u:p@db:5432/medic"),
        ("postgresql+psycopg://u@db/medic", "postgresql+psycopg://u@db/medic"),
        ("sqlite:////var/lib/medic.sqlite", "sqlite:////var/lib/medic.sqlite"),
    ],
)
def test_database_url_normalised(in_tmp, monkeypatch, given, expected):
    monkeypatch.setenv("MEDIC_DATABASE_URL", given)
    assert load_settings().database_url == expected


def test_keyword_overrides_beat_environment(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_LOG_LEVEL", "ERROR")
    assert load_settings(log_level="DEBUG").log_level == "DEBUG"


# --------------------------------------------------------------------------- invalid values


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("MEDIC_MAX_EVENT_BYTES", "abc", "MEDIC_MAX_EVENT_BYTES"),
        ("MEDIC_MAX_EVENT_BYTES", "10", "MEDIC_MAX_EVENT_BYTES"),  # below ge=4096
        ("MEDIC_MAX_NESTING_DEPTH", "65", "MEDIC_MAX_NESTING_DEPTH"),
        ("MEDIC_WORKER_CONCURRENCY", "0", "MEDIC_WORKER_CONCURRENCY"),
        ("MEDIC_LOG_LEVEL", "LOUD", "MEDIC_LOG_LEVEL"),
        ("MEDIC_LOG_FORMAT", "xml", "MEDIC_LOG_FORMAT"),
        ("MEDIC_DATABASE_URL", "mysql://x", "MEDIC_DATABASE_URL"),
        ("MEDIC_BROKER_URL", "ftp://x", "MEDIC_BROKER_URL"),
    ],
)
def test_invalid_value_names_the_setting(in_tmp, monkeypatch, env, value, named):
    monkeypatch.setenv(env, value)
    message = config_error()
    assert named in message
    assert repr(value) in message  # the offending value is shown


def test_all_invalid_settings_are_reported_together(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("MEDIC_BROKER_URL", "ftp://x")
    message = config_error()
    assert "MEDIC_LOG_LEVEL" in message and "MEDIC_BROKER_URL" in message


@pytest.mark.parametrize(("soft", "hard"), [("30", "30"), ("60", "59")])
def test_hard_time_limit_must_exceed_soft(in_tmp, monkeypatch, soft, hard):
    monkeypatch.setenv("MEDIC_TASK_SOFT_TIME_LIMIT_S", soft)
    monkeypatch.setenv("MEDIC_TASK_TIME_LIMIT_S", hard)
    message = config_error()
    assert "task_time_limit_s" in message.lower()
    assert "task_soft_time_limit_s" in message.lower()


def test_hard_time_limit_error_names_the_env_setting(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_TASK_TIME_LIMIT_S", "30")
    assert "MEDIC_TASK_TIME_LIMIT_S" in config_error()


@pytest.mark.parametrize("raw, expected", [
    ("/etc/medic/rules.yaml", ["/etc/medic/rules.yaml"]),
    ("a.yaml, b.yaml", ["a.yaml", "b.yaml"]),
    ('["a.yaml"]', ["a.yaml"]),
])
def test_rules_files_from_environment_comma_separated_or_json(in_tmp, monkeypatch, raw, expected):
    monkeypatch.setenv("MEDIC_RULES_FILES", raw)
    assert [str(p) for p in load_settings().rules_files] == expected


def test_unparsable_json_list_in_environment_is_a_config_error(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_RULES_FILES", '["a.yaml"')
    assert "MEDIC_RULES_FILES: not valid JSON: Expecting ',' delimiter at line 1 column 10" in config_error()


@pytest.mark.parametrize(
    ("env", "value", "says"),
    [
        ("MEDIC_CHANNELS", '{"ops": 1 "x": 2}',
         "MEDIC_CHANNELS: not valid JSON: Expecting ',' delimiter at line 1 column 11"),
        ("MEDIC_MAINTENANCE_JOBS", "{backup", "MEDIC_MAINTENANCE_JOBS: not valid JSON: Expecting property name"),
        ("MEDIC_FLOWER", "{", "MEDIC_FLOWER: not valid JSON: Expecting property name enclosed in double quotes"),
        # nested settings, read through the "__" delimiter
        ("MEDIC_SERVE__TOKENS", '{"grafana": ', "MEDIC_SERVE__TOKENS: not valid JSON: Expecting value at line 1"),
        ("MEDIC_LOG_ROTATION__TARGETS", "[1,", "MEDIC_LOG_ROTATION__TARGETS: not valid JSON: Expecting value"),
    ],
)
def test_bad_json_in_the_environment_names_the_variable(in_tmp, monkeypatch, env, value, says):
    monkeypatch.setenv(env, value)
    message = config_error()
    assert message.startswith(f"invalid configuration:\n  {says}") and "EnvSettingsSource" not in message


def test_bad_json_among_nested_variables_names_the_bad_one(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_SERVE__PORT", "8081")
    monkeypatch.setenv("MEDIC_SERVE__TOKENS", '{"grafana": {"token": "s3cret-s3cret-s3cret-s3cret-s3cret"')
    monkeypatch.setenv("MEDIC_SERVE__HOST", "0.0.0.0")
    message = config_error()
    assert "MEDIC_SERVE__TOKENS: not valid JSON" in message and "s3cret" not in message


# --------------------------------------------------------------------------- config file


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("medic.toml", 'log_level = "debug"\nmax_event_bytes = 5000\nbroker_url = "redis://r:6379/1"\n'),
        ("medic.yaml", "log_level: debug\nmax_event_bytes: 5000\nbroker_url: redis://r:6379/1\n"),
        ("medic.yml", "log_level: debug\nmax_event_bytes: 5000\nbroker_url: redis://r:6379/1\n"),
        ("medic.yaml", "MEDIC_LOG_LEVEL: debug\nMEDIC_MAX_EVENT_BYTES: 5000\nMEDIC_BROKER_URL: redis://r:6379/1\n"),
    ],
)
def test_config_file(in_tmp, monkeypatch, name, text):
    path = write(in_tmp / name, text)
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(path))
    s = load_settings()
    assert (s.log_level, s.max_event_bytes, s.broker_url) == ("DEBUG", 5000, "redis://r:6379/1")
    assert s.config_file == path


@pytest.mark.parametrize(("name", "text"), [("medic.toml", ""), ("medic.yaml", ""), ("medic.yaml", "# nothing\n")])
def test_empty_config_file_means_defaults(in_tmp, monkeypatch, name, text):
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(write(in_tmp / name, text)))
    assert load_settings().max_event_bytes == 262_144


@pytest.mark.parametrize(
    ("name", "text"),
    [("medic.toml", 'log_level = "debug"\nmax_event_bytes = 5000\n'),
     ("medic.yaml", "log_level: debug\nmax_event_bytes: 5000\n")],
)
def test_environment_beats_config_file(in_tmp, monkeypatch, name, text):
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(write(in_tmp / name, text)))
    monkeypatch.setenv("MEDIC_LOG_LEVEL", "ERROR")
    s = load_settings()
    assert s.log_level == "ERROR"  # from the environment
    assert s.max_event_bytes == 5000  # from the file


def test_config_file_list_value(in_tmp, monkeypatch):
    path = write(in_tmp / "medic.yaml", "rules_files: [one.yaml, two.yaml]\n")
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(path))
    assert load_settings().rules_files == [Path("one.yaml"), Path("two.yaml")]


@pytest.mark.parametrize(
    ("name", "text"),
    [("medic.toml", "bogus = 1\n"), ("medic.yaml", "bogus: 1\n"), ("medic.yaml", "MEDIC_BOGUS: 1\n")],
)
def test_unknown_key_in_config_file_rejected(in_tmp, monkeypatch, name, text):
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(write(in_tmp / name, text)))
    message = config_error()
    assert "MEDIC_BOGUS" in message
    assert "not permitted" in message


def test_invalid_value_in_config_file_names_the_setting(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(write(in_tmp / "medic.toml", 'max_event_bytes = "abc"\n')))
    assert "MEDIC_MAX_EVENT_BYTES" in config_error()


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("medic.toml", "log_level = [\n", "not valid TOML"),
        ("medic.toml", "= 1\n", "not valid TOML"),
        ("medic.yaml", "log_level: [\n", "not valid YAML"),
        ("medic.yaml", "a: b: c\n", "not valid YAML"),
        ("medic.yaml", "- one\n- two\n", "must hold a mapping"),
        ("medic.yaml", "just text\n", "must hold a mapping"),
    ],
)
def test_malformed_config_file(in_tmp, monkeypatch, name, text, says):
    path = write(in_tmp / name, text)
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(path))
    message = config_error()
    assert message.startswith("MEDIC_CONFIG_FILE:")
    assert str(path) in message
    assert says in message


def test_missing_config_file(in_tmp, monkeypatch):
    path = in_tmp / "absent.toml"
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(path))
    message = config_error()
    assert message.startswith("MEDIC_CONFIG_FILE:")
    assert str(path) in message and "cannot read" in message


def test_config_file_that_is_a_directory(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(in_tmp))
    message = config_error()
    assert message.startswith("MEDIC_CONFIG_FILE:") and "cannot read" in message


def test_config_file_not_utf8(in_tmp, monkeypatch):
    path = in_tmp / "medic.yaml"
    path.write_bytes(b"log_level: \xff\xfe\n")
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(path))
    assert config_error().startswith("MEDIC_CONFIG_FILE:")


def test_rabbitmq_caps_countdowns_below_its_consumer_timeout(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_BROKER_URL", "amqp://guest@rabbit//")
    monkeypatch.setenv("MEDIC_BROKER_VISIBILITY_TIMEOUT_S", "7200")
    monkeypatch.setenv("MEDIC_RECOVERY_COUNTDOWN_MAX_S", "3600")
    with pytest.raises(ConfigError, match="MEDIC_RECOVERY_COUNTDOWN_MAX_S .* consumer_timeout"):
        load_settings()
    monkeypatch.setenv("MEDIC_RECOVERY_COUNTDOWN_MAX_S", "900")
    assert load_settings().recovery_countdown_max_s == 900


def test_secrets_are_never_echoed_in_configuration_errors(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_SERVE__TOKENS", '{"grafana": {"token": "too-short"}}')
    monkeypatch.setenv("MEDIC_FLOWER__BASIC_AUTH", "admin:")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "MEDIC_SERVE__TOKENS__GRAFANA__TOKEN" in message and "MEDIC_FLOWER__BASIC_AUTH" in message
    assert "too-short" not in message and "admin" not in message


# --------------------------------------------------------------------------- unknown MEDIC_* variables


def test_unknown_variables_of_the_environment_are_warned_about_with_what_they_may_mean(in_tmp, monkeypatch):
    monkeypatch.setenv("MEDIC_DATABSE_URL", "sqlite:///x.sqlite")
    monkeypatch.setenv("MEDIC_LOG_LEVEL", "debug")
    warnings = unknown_variable_warnings()
    assert "MEDIC_DATABSE_URL is not a medic setting and is ignored; did you mean MEDIC_DATABASE_URL?" in warnings
    assert not [warning for warning in warnings if "MEDIC_LOG_LEVEL" in warning]
    assert load_settings().database_url.endswith("medic.sqlite")  # ignored, as the warning says
