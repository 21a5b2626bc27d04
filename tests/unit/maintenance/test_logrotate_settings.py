"""Log rotation settings: targets from the environment or the file, inherited defaults, errors naming the target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.settings import load_settings


def test_targets_come_from_the_environment_as_json(monkeypatch):
    targets = [{"name": "nginx", "directory": "/var/log/nginx", "pattern": "*.log", "mode": "copytruncate"}]
    monkeypatch.setenv("MEDIC_LOG_ROTATION__TARGETS", json.dumps(targets))
    monkeypatch.setenv("MEDIC_LOG_ROTATION__KEEP_COUNT", "4")
    [target] = load_settings().log_rotation.effective_targets(None)
    assert (target.name, target.directory, target.mode, target.keep_count) == ("nginx", Path("/var/log/nginx"),
                                                                               "copytruncate", 4)


def test_targets_come_from_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "medic.yaml"
    config.write_text("log_rotation:\n  compress_after_s: 5\n  targets:\n"
                      "    - directory: /srv/app/logs\n      pattern: 'app-*.log'\n      max_size_bytes: 1000\n")
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(config))
    [target] = load_settings().log_rotation.effective_targets(None)
    assert (target.name, target.pattern, target.max_size_bytes, target.compress_after_s) == (
        "/srv/app/logs/app-*.log", "app-*.log", 1000, 5)


def test_a_target_inherits_what_it_omits_and_switches_off_what_it_sets_to_null():
    settings = load_settings(log_rotation={"max_age_s": 86400, "retention_days": 7, "targets": [
        {"directory": "/a"}, {"directory": "/b", "max_age_s": None, "retention_days": 2}]})
    a, b = settings.log_rotation.effective_targets(None)
    assert (a.max_age_s, a.retention_days, a.max_size_bytes) == (86400, 7, 50 * 1024 * 1024)
    assert (b.max_age_s, b.retention_days) == (None, 2)


def test_medics_own_log_file_is_the_default_target(tmp_path):
    log_file = tmp_path / "logs" / "medic[1].log"
    settings = load_settings(log_file=str(log_file))
    [own] = settings.log_rotation.effective_targets(settings.log_file)
    assert (own.name, own.directory, own.mode) == ("medic", log_file.parent, "rename")
    assert own.pattern == "medic[[]1].log"  # the exact name, whatever it contains


def test_own_log_file_is_left_to_a_target_that_covers_it_or_switched_off(tmp_path):
    log_file = tmp_path / "medic.log"
    covered = load_settings(log_file=str(log_file),
                            log_rotation={"targets": [{"name": "all", "directory": str(tmp_path)}]})
    assert [t.name for t in covered.log_rotation.effective_targets(covered.log_file)] == ["all"]
    off = load_settings(log_file=str(log_file), log_rotation={"rotate_own_log": False})
    assert off.log_rotation.effective_targets(off.log_file) == []


@pytest.mark.parametrize(
    ("rotation", "message"),
    [
        ({"targets": [{"pattern": "*.log"}]}, "MEDIC_LOG_ROTATION__TARGETS__0__DIRECTORY: Field required"),
        ({"targets": [{"directory": " "}]}, "MEDIC_LOG_ROTATION__TARGETS__0__DIRECTORY: directory is empty"),
        ({"targets": [{"directory": "/a", "max_size_bytes": 0}]}, "MEDIC_LOG_ROTATION__TARGETS__0__MAX_SIZE_BYTES"),
        ({"targets": [{"directory": "/a", "keep_total_bytes": -1}]},
         "MEDIC_LOG_ROTATION__TARGETS__0__KEEP_TOTAL_BYTES"),
        ({"targets": [{"directory": "/a", "mode": "move"}]}, "MEDIC_LOG_ROTATION__TARGETS__0__MODE"),
        ({"targets": [{"directory": "/a", "pattern": "logs/*.log"}]}, "pattern 'logs/*.log' must be a file-name glob"),
        ({"targets": [{"name": "app", "directory": "/a", "pattern": "app.log*"}]},
         "TARGETS__0__PATTERN: target 'app': pattern 'app.log*' also matches rotated files' names"),
        ({"targets": [{"directory": "/a", "pattern": "*"}]}, "pattern '*' also matches rotated files' names"),
        ({"targets": [{"directory": "/a", "pattern": "*Z"}]}, "pattern '*Z' also matches rotated files' names"),
        ({"targets": [{"directory": "/a", "pattern": "*.gz"}]}, "pattern '*.gz' also matches rotated files' names"),
        ({"targets": [{"directory": "/a"}, {"name": "x", "directory": "/b", "max_size_bytes": None}]},
         "targets[1] ('x'): set max_size_bytes or max_age_s"),
        ({"keep_count": None, "retention_days": None}, "the defaults (used for MEDIC_LOG_FILE): set keep_count"),
        ({"targets": [{"name": "x", "directory": "/a"}, {"name": "x", "directory": "/b"}]},
         "more than one target named 'x'"),
    ],
)
def test_invalid_targets_are_refused_naming_target_and_field(rotation, message):
    with pytest.raises(ConfigError) as error:
        load_settings(log_rotation=rotation)
    assert message in str(error.value)


@pytest.mark.parametrize("pattern", ["*.log", "app-*.log", "*.txt", "access_log", "err?.log", "[ab].log", "*.log.json"])
def test_ordinary_patterns_are_accepted(pattern):
    load_settings(log_rotation={"targets": [{"directory": "/a", "pattern": pattern}]})
