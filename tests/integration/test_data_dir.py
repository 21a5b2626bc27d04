"""The default data directory is one per user (XDG_DATA_HOME here), whatever the working directory;
`medic db upgrade` initialises the embedded broker, and `medic report` refuses one nobody initialised."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.services import Process, medic_command, medic_env, run_medic

pytestmark = pytest.mark.integration

REPORT = ("report", "--error-type", "X", "--message", "m", "--service", "s")


@pytest.fixture
def home(tmp_path) -> dict:
    """MEDIC_DATA_DIR unset, the user's data directory under tmp_path, two working directories."""
    for name in ("here", "there"):
        (tmp_path / name).mkdir()
    env = {**medic_env(data_dir=None), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    return {"env": env, "xdg": tmp_path / "xdg", "data_dir": tmp_path / "xdg" / "medic",
            "here": tmp_path / "here", "there": tmp_path / "there"}


def tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def queued(broker: Path, queue: str = "medic.errors") -> list[dict]:
    with closing(sqlite3.connect(f"file:{broker}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT m.payload FROM kombu_message m JOIN kombu_queue q ON m.queue_id = q.id "
                            "WHERE q.name = ?", (queue,)).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def files_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*")) if path.exists() else []


def test_db_upgrade_in_one_directory_then_report_in_another_queue_into_the_same_broker(home):
    upgraded = run_medic(home["env"], "db", "upgrade", cwd=home["here"])
    assert upgraded.returncode == 0, upgraded.stderr
    broker = home["data_dir"] / "broker.sqlite"
    assert {"kombu_queue", "kombu_message"} <= tables(broker)
    assert (home["data_dir"] / "medic.sqlite").exists()

    sent = run_medic(home["env"], *REPORT, "--json", cwd=home["there"])
    assert sent.returncode == 0, sent.stderr
    [outcome] = json.loads(sent.stdout)
    assert outcome["status"] == "queued"
    [message] = queued(broker)
    assert message["headers"]["id"] == outcome["task_id"] and message["headers"]["task"] == "medic.report"
    assert not (home["here"] / ".medic").exists() and not (home["there"] / ".medic").exists()
    assert "warning" not in sent.stderr


def test_report_into_a_broker_nobody_initialised_exits_5_and_creates_nothing(home):
    result = run_medic(home["env"], *REPORT, cwd=home["there"])
    assert result.returncode == 5
    broker = home["data_dir"] / "broker.sqlite"
    [line] = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert str(broker) in line and f"MEDIC_DATA_DIR {home['data_dir']}" in line
    assert "no worker reads it" in line and "medic run" in line and "medic db upgrade" in line
    assert not home["xdg"].exists() and files_under(home["there"]) == []


def test_report_into_a_broker_file_without_kombu_tables_exits_5(home):
    home["data_dir"].mkdir(parents=True)
    broker = home["data_dir"] / "broker.sqlite"
    broker.write_bytes(b"")
    result = run_medic(home["env"], *REPORT, "--json", cwd=home["there"])
    assert result.returncode == 5 and result.stdout == ""
    assert str(broker) in result.stderr and "Traceback" not in result.stderr
    assert tables(broker) == set() and [p.name for p in files_under(home["data_dir"])] == ["broker.sqlite"]


def test_report_direct_needs_no_broker(home):
    assert run_medic(home["env"], "db", "upgrade", cwd=home["here"]).returncode == 0
    (home["data_dir"] / "broker.sqlite").unlink()
    stored = run_medic(home["env"], *REPORT, "--direct", "--json", cwd=home["there"])
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)[0]["status"] != "invalid"


def test_an_old_dot_medic_in_the_working_directory_is_named_once_and_the_command_goes_on(home):
    legacy = home["here"] / ".medic"
    legacy.mkdir()
    (legacy / "medic.sqlite").write_bytes(b"")
    shown = run_medic(home["env"], "config", "show", "--json", cwd=home["here"])
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["data_dir"] == str(home["data_dir"])
    [warning] = shown.stderr.strip().splitlines()
    assert warning.startswith("medic: warning:")
    assert str(legacy / "medic.sqlite") in warning and str(home["data_dir"]) in warning
    assert f"MEDIC_DATA_DIR={legacy}" in warning

    upgraded = run_medic(home["env"], "db", "upgrade", cwd=home["here"])
    assert upgraded.returncode == 0 and upgraded.stderr.count("warning") == 1
    sent = run_medic(home["env"], *REPORT, cwd=home["here"])
    assert sent.returncode == 0 and sent.stderr.count("warning") == 1, sent.stderr
    assert len(queued(home["data_dir"] / "broker.sqlite")) == 1

    kept = run_medic({**home["env"], "MEDIC_DATA_DIR": ".medic"}, "config", "show", "--json", cwd=home["here"])
    assert kept.returncode == 0 and kept.stderr == ""
    assert json.loads(kept.stdout)["data_dir"] == str(legacy)
    elsewhere = run_medic(home["env"], "config", "show", cwd=home["there"])
    assert elsewhere.stderr == ""
    [row] = [line.split() for line in elsewhere.stdout.splitlines() if line.startswith("MEDIC_DATA_DIR ")]
    assert row == ["MEDIC_DATA_DIR", str(home["data_dir"])]


def test_medic_run_names_its_data_directory(home, tmp_path):
    run = Process(medic_command("run", "--concurrency", "1"), home["env"], tmp_path / "run.log", cwd=home["there"])
    try:
        run.wait_ready(marker="broker medic+sqlite", timeout_s=60)
        assert f"medic: data directory {home['data_dir']}, database sqlite:///" in run.output()
    finally:
        run.terminate()
