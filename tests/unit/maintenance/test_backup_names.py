"""Names and parameters: archive names, config members, target URLs, sizes, PostgreSQL tool arguments."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.settings import load_settings
from workers.cli.backup import human_size
from workers.maintenance.backup import pgclient
from workers.maintenance.backup.create import archive_name, config_sources
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.restore import database_url

NOW = datetime(2026, 11, 29, 20, 30, 5, 123, tzinfo=UTC)


@pytest.mark.parametrize(("taken", "expected"), [
    (set(), "medic-backup-20261129T203005Z.tar.gz"),
    ({"medic-backup-20261129T203005Z.tar.gz"}, "medic-backup-20261129T203005Z-2.tar.gz"),
    ({"medic-backup-20261129T203005Z.tar.gz", "medic-backup-20261129T203005Z-2.tar.gz"},
     "medic-backup-20261129T203005Z-3.tar.gz"),
])
def test_archive_names_are_utc_stamps_made_unique(taken, expected):
    assert archive_name(NOW, taken.__contains__) == expected


def test_archive_names_use_utc():
    local = datetime.fromisoformat("2026-11-29T21:30:05+01:00")
    assert archive_name(local, lambda _: False) == "medic-backup-20261129T203005Z.tar.gz"


def test_config_files_are_grouped_by_setting_and_never_collide(tmp_path):
    settings = load_settings(config_file=tmp_path / "medic.yaml", data_dir=str(tmp_path),
                             rules_files=f"{tmp_path}/a/rules.yaml,{tmp_path}/b/rules.yaml",
                             plans_files=str(tmp_path / "plans.yaml"))
    assert config_sources(settings) == {
        "config/settings/medic.yaml": ("MEDIC_CONFIG_FILE", tmp_path / "medic.yaml"),
        "config/rules/rules.yaml": ("MEDIC_RULES_FILES", tmp_path / "a" / "rules.yaml"),
        "config/rules/2-rules.yaml": ("MEDIC_RULES_FILES", tmp_path / "b" / "rules.yaml"),
        "config/plans/plans.yaml": ("MEDIC_PLANS_FILES", tmp_path / "plans.yaml"),
    }


def test_no_config_files_when_none_are_set(tmp_path):
    assert config_sources(load_settings(data_dir=str(tmp_path))) == {}


@pytest.mark.parametrize(("given", "url"), [
    ("restored.sqlite", f"sqlite:///{Path.cwd() / 'restored.sqlite'}"),
    ("/var/lib/medic/x.sqlite", "sqlite:////var/lib/medic/x.sqlite"),
    ("sqlite:////var/lib/medic/x.sqlite", "sqlite:////var/lib/medic/x.sqlite"),
    ("postgresql://u:p@db/medic", "postgresql+psycopg://u:p@db/medic"),
    ("postgresql+psycopg://u@db/medic", "postgresql+psycopg://u@db/medic"),
])
def test_target_databases(given, url):
    assert database_url(given) == url


def test_an_unsupported_target_is_named_without_its_password():
    with pytest.raises(ValueError, match=r"mysql://u:\*\*\*@db/medic: use a SQLite file path") as refused:
        database_url("mysql://u:hunter2@db/medic")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("size", "text"), [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
                                            (5 * 1024 ** 3, "5.0 GiB"), (3 * 1024 ** 5, "3072.0 TiB")])
def test_human_sizes(size, text):
    assert human_size(size) == text


class Recorder:
    def __init__(self, returncode: int = 0, stderr: str = ""):
        self.returncode, self.stderr, self.calls = returncode, stderr, []

    def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        return subprocess.CompletedProcess(argv, self.returncode, stdout="listing", stderr=self.stderr)


def test_the_password_goes_through_the_environment_never_argv(monkeypatch, tmp_path):
    tool = tmp_path / "pg_dump"
    tool.write_text("")
    tool.chmod(0o755)
    recorder = Recorder()
    monkeypatch.setattr(subprocess, "run", recorder)
    url = "postgresql+psycopg://medic:hunter2@db.internal:6543/medic?sslmode=require"
    assert pgclient.run("pg_dump", ["--format=custom"], bin_dir=tmp_path, url=url) == "listing"
    ((argv, kwargs),) = recorder.calls
    assert argv[0] == str(tool) and "--no-password" in argv and "hunter2" not in " ".join(argv)
    dbname = next(arg for arg in argv if arg.startswith("--dbname="))
    for part in ("host=db.internal", "port=6543", "user=medic", "dbname=medic", "sslmode=require"):
        assert part in dbname
    assert kwargs["env"]["PGPASSWORD"] == "hunter2" and kwargs["stdin"] == subprocess.DEVNULL


def test_a_failing_tool_is_reported_with_secrets_masked(monkeypatch, tmp_path):
    (tmp_path / "pg_restore").write_text("")
    (tmp_path / "pg_restore").chmod(0o755)
    monkeypatch.setattr(subprocess, "run", Recorder(1, "error: could not connect: password=hunter2 failed"))
    with pytest.raises(BackupError, match=r"pg_restore failed \(exit 1\)") as failed:
        pgclient.run("pg_restore", ["--list", "x"], bin_dir=tmp_path)
    assert "hunter2" not in str(failed.value)


def test_a_missing_tool_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="MEDIC_BACKUP__PG_BIN_DIR"):
        pgclient.tool_path("pg_dump", tmp_path)
