"""`medic backup create|list|verify|restore` as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest
from sqlalchemy.engine import make_url

from config.settings import load_settings
from tests.support import services
from tests.support.services import count_rows, medic_env, run_medic, run_medic_side_by_side
from workers.intake.service import IntakeService

pytestmark = pytest.mark.integration

BUG = {"error_type": "KeyError", "message": "'sku'", "service": "shop"}


def ok(result: subprocess.CompletedProcess):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("[", "{")) else result.stdout


def test_create_list_verify_restore(database_url, tmp_path):
    config_file = tmp_path / "medic.yaml"
    config_file.write_text("log_format: text\n")
    env = medic_env(database_url=database_url, data_dir=tmp_path / "data", config_file=config_file)
    intake = IntakeService(load_settings(database_url=database_url, data_dir=str(tmp_path / "data")))
    for i in range(3):
        intake.report({**BUG, "message": f"'sku{i}'"}, delivery_id=f"d{i}")

    created = ok(run_medic(env, "backup", "create", "--json"))
    backup = created["backup"]
    name = backup["name"]
    assert created["run"]["status"] == "succeeded" and backup["verification"] == "ok"
    assert backup["database_kind"] == make_url(database_url).get_backend_name() and backup["schema_revision"]
    with tarfile.open(backup["path"]) as tar:
        assert "config/settings/medic.yaml" in tar.getnames()

    intake.report({**BUG, "message": "'after the backup'"}, delivery_id="later")
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(backup["path"]) as original, tarfile.open(tampered, "w:gz") as copy:
        for member in original.getmembers():
            copy.addfile(member, original.extractfile(member))
        copy.addfile(tarfile.TarInfo("../../escaped.txt"))
    kind = make_url(database_url).get_backend_name()
    wrong_kind = "postgresql://postgres@127.0.0.1/x" if kind == "sqlite" else str(tmp_path / "x.sqlite")
    # Commands that change no data run side by side: each CLI process spends a second or more importing.
    listed, table, verified, unknown, declined, refused, not_converted = run_medic_side_by_side(
        env, ("backup", "list", "--json"), ("backup", "list"), ("backup", "verify", name, "--json"),
        ("backup", "verify", "nope"), ("backup", "restore", name),
        ("backup", "restore", str(tampered), "--yes", "--trust-unsigned"),
        ("backup", "restore", name, "--to-database", wrong_kind, "--yes"))
    assert [(b["name"], b["verification"]) for b in ok(listed)] == [(name, "ok")]
    assert name in ok(table) and "VERIFICATION" in table.stdout
    assert ok(verified)["verification"] == "ok" and ok(verified)["registered"] is True
    assert unknown.returncode == 4 and "no backup named 'nope'" in unknown.stderr
    assert declined.returncode == 1 and "REPLACED by the archive's" in declined.stdout  # no stdin: not confirmed
    assert refused.returncode == 1 and "'../../escaped.txt'" in refused.stderr and "'..' component" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path.parent / "escaped.txt").exists()
    assert not_converted.returncode == 1 and "does not convert between them" in not_converted.stderr
    assert count_rows(database_url, "occurrences") == 4

    restored = ok(run_medic(env, "backup", "restore", name, "--yes", "--json", "--config-to",
                            str(tmp_path / "restored-config")))
    assert restored["in_place"] and restored["rows"]["occurrences"] == 3 and restored["problems"] == []
    assert count_rows(database_url, "occurrences") == 3
    assert (tmp_path / "restored-config" / "settings" / "medic.yaml").read_text() == "log_format: text\n"

    other = f"sqlite:///{tmp_path / 'other.sqlite'}" if kind == "sqlite" else \
        services.pg_url(f"{make_url(database_url).database}_other")
    try:
        listed, to_other = run_medic_side_by_side(env, ("backup", "list", "--json"),
                                        ("backup", "restore", name, "--to-database", other, "--yes", "--json"))
        assert [b["name"] for b in ok(listed)] == [name]  # the registry was carried over
        assert not ok(to_other)["in_place"] and count_rows(other, "occurrences") == 3
    finally:
        if kind == "postgresql":
            services.drop_pg_database(make_url(other).database)
